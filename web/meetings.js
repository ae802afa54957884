// The meetings list (search, live meetings at once, updates while any is in progress, uploads of
// recordings) and one meeting: how far its recording's transcription got, its minutes (summary
// and action items, with where their writing stands), who spoke when, the transcript by
// speaker, downloads, rename and delete.

import { ApiError, api } from "./api.js";
import { speakerClass, speakerName } from "./captions.js";
import { dateOnly, dateTime, languageName, problemMessage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
/// How often a list with a live meeting, or minutes being written, is read again.
const POLL_MS = 3000;

let listTimer = null;
let minutesTimer = null;
let recordingTimer = null;
let shown = null; // the meeting on view: { id, title }
let users = null; // user id → name, for task owners

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, "0");
  return `${h ? `${h}:` : ""}${mm}:${String(s % 60).padStart(2, "0")}`;
}

function statusChip(status) {
  return el("span", `status status-${status}`, t(`status.${status}`));
}

/// Reads the list again (with the search box's words) and keeps reading it every few seconds
/// while a meeting in it is still in progress.
export async function loadMeetings() {
  clearTimeout(listTimer);
  const q = $("search").value.trim();
  const params = new URLSearchParams({ limit: "20" });
  if (q) params.set("q", q);
  const page = await api(`/v1/meetings?${params}`);
  const list = $("meeting-list");
  list.replaceChildren();
  if (!page.items.length) list.append(el("li", "hint", q ? t("meetings.nomatch", { q }) : t("meetings.empty")));
  for (const m of page.items) {
    const li = el("li");
    const button = el("button", "meeting-item");
    button.dataset.id = m.id;
    if (m.id === shown?.id) button.setAttribute("aria-current", "true");
    button.append(el("span", "meeting-name", m.title), statusChip(m.stt_status));
    const when = dateTime(m.created_at);
    button.append(el("span", "hint", m.audio_duration ? `${when} · ${clock(m.audio_duration)}` : when));
    button.addEventListener("click", () => showMeeting(m.id));
    li.append(button);
    list.append(li);
  }
  if (page.items.some((m) => m.stt_status === "PROCESSING" || m.stt_status === "PENDING")) {
    listTimer = setTimeout(() => loadMeetings().catch(() => {}), POLL_MS);
  }
  // The meeting on view may have been renamed or finished meanwhile.
  const current = page.items.find((m) => m.id === shown?.id);
  if (current && current.stt_status !== shown.status) await showMeeting(current.id);
}

export function stopPolling() {
  clearTimeout(listTimer);
  clearTimeout(minutesTimer);
  clearTimeout(recordingTimer);
  shown = null;
  users = null;
}

async function userNames() {
  if (!users) {
    const list = await api("/v1/users").catch(() => []);
    users = new Map(list.map((u) => [u.id, u.name || u.email]));
  }
  return users;
}

export async function showMeeting(id) {
  clearTimeout(minutesTimer);
  clearTimeout(recordingTimer);
  const [m, tasks, names] = await Promise.all([
    api(`/v1/meetings/${id}`),
    api(`/v1/tasks?meeting_id=${id}&limit=100`),
    userNames(),
  ]);
  shown = { id, title: m.title, status: m.stt_status };
  for (const b of document.querySelectorAll(".meeting-item")) {
    if (b.dataset.id === id) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
  $("meeting").hidden = false;
  $("meeting").dataset.id = id;
  $("meeting-error").textContent = "";
  // No transcription runs for a meeting that is not PROCESSING: the line of the one shown before
  // goes with the status chip, not after the recording's state is fetched (loadRecording shows a
  // failure again).
  if (m.stt_status !== "PROCESSING") $("recording-status").hidden = true;
  $("meeting-title").textContent = m.title;
  $("rename-form").hidden = true;
  $("name-speaker").hidden = true;
  $("meeting-title").hidden = false;
  const segments = (m.transcript_segments || []).filter((s) => s.text?.trim());
  const duration = m.audio_duration || segments.reduce((end, s) => Math.max(end, s.end), 0);
  const meta = $("meeting-meta");
  const language = m.language ? ` · ${languageName(m.language)}` : "";
  meta.replaceChildren(
    statusChip(m.stt_status),
    ` ${clock(duration)} · ${t("meeting.segments", { n: segments.length })}${language} · ${dateTime(m.created_at)}`,
  );
  for (const format of ["srt", "vtt", "json"]) {
    const a = $(`dl-${format}`);
    a.href = `/v1/meetings/${id}/transcript?format=${format}`;
    a.download = `meeting-${id}.${format}`;
  }
  $("dl-minutes").href = `/v1/meetings/${id}/minutes?format=md`;
  $("dl-minutes").download = `meeting-${id}-minutes.md`;
  // Voices recognised as people show their names.
  const voices = new Map((m.speaker_labels || []).filter((l) => l.identity).map((l) => [l.speaker, l.identity]));
  const voiceNames = new Map([...voices].map(([k, v]) => [k, v.name]));
  renderTimeline(segments, duration, voices, voiceNames);
  renderTranscript(segments, voiceNames, m.transcript_text);
  renderTasks(tasks.items, names);
  await loadRecording(id);
  await loadMinutes(id, tasks.items, names);
}

/// Where the meeting's recording stands while it is transcribed; the meeting is shown again
/// when it is done. Nothing for a meeting without a recording, or one transcribed already.
async function loadRecording(id) {
  const line = $("recording-status");
  const recording = await api(`/v1/meetings/${id}/recording`);
  const status = recording.status;
  if (shown?.id === id) {
    const audio = $("dl-audio");
    $("dl-audio-item").hidden = status === "none" || !recording.format;
    audio.href = `/v1/meetings/${id}/recording/audio`;
    audio.download = `meeting-${id}.${recording.format}`;
  }
  // A live session's recording ("recorded") is not transcribed again.
  line.hidden = status === "none" || status === "succeeded" || status === "recorded";
  if (line.hidden || shown?.id !== id) return;
  if (status === "failed") {
    line.textContent = t("recording.failed", { why: recording.error || "" });
    return;
  }
  if (status === "queued") {
    line.textContent = t("recording.queued");
  } else {
    const eta = recording.eta_seconds == null ? "" : t("recording.eta", { time: clock(recording.eta_seconds) });
    line.textContent = t("recording.running", { percent: Math.floor(recording.percent ?? 0), eta });
  }
  recordingTimer = setTimeout(async () => {
    try {
      const again = await api(`/v1/meetings/${id}/recording`);
      if (shown?.id !== id) return;
      if (again.status === "succeeded" || again.status === "failed") await showMeeting(id);
      else await loadRecording(id);
    } catch (e) {
      showMeetingError(e);
    }
  }, POLL_MS);
}

/// A recording from this computer becomes a meeting: created with the file's name as its title,
/// the file sent as it is (the server reads the format from its content), then shown while it is
/// transcribed.
export async function uploadRecording(file) {
  const status = $("upload-status");
  status.classList.remove("error");
  status.textContent = t("upload.sending", { name: file.name });
  const title = (file.name.replace(/\.[^.]+$/, "").trim() || file.name).slice(0, 200);
  const meeting = await api("/v1/meetings", { method: "POST", body: { title } });
  try {
    const response = await fetch(`/v1/meetings/${meeting.id}/recording?diarize=true`, {
      method: "PUT",
      headers: { accept: "application/json", "x-ddalkkak-csrf": "1" },
      body: file,
      credentials: "same-origin",
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  } catch (e) {
    // The meeting was made for this file only.
    await api(`/v1/meetings/${meeting.id}`, { method: "DELETE" }).catch(() => {});
    status.classList.add("error");
    status.textContent = problemMessage(e instanceof ApiError ? e : new ApiError(0, { code: "network", detail: e.message }));
    return;
  }
  status.textContent = t("upload.done", { name: file.name });
  await loadMeetings();
  await showMeeting(meeting.id);
}

function renderTranscript(segments, names, text) {
  const transcript = $("transcript");
  transcript.replaceChildren();
  let previous;
  for (const s of segments) {
    const p = el("p", "segment");
    p.append(el("span", "time", clock(s.start)));
    const speaker = s.speaker ?? null;
    const body = el("span", "text-block");
    if (speaker !== previous) body.append(el("span", `who ${speakerClass(speaker)}`, speakerName(speaker, names)));
    previous = speaker;
    body.append(el("span", `${speakerClass(speaker)} text`, s.text.trim()));
    p.append(body);
    transcript.append(p);
  }
  if (!segments.length) transcript.append(el("p", "hint", text || t("meeting.notranscript")));
}

function renderTimeline(segments, duration, voices, names) {
  const timeline = $("timeline");
  const legend = $("legend");
  timeline.replaceChildren();
  legend.replaceChildren();
  if (!duration) return;
  const seconds = new Map();
  for (const s of segments) {
    const speaker = s.speaker ?? null;
    const bar = el("span", `${speakerClass(speaker)} block`);
    bar.style.left = `${(100 * s.start) / duration}%`;
    bar.style.width = `${Math.max(0.3, (100 * (s.end - s.start)) / duration)}%`;
    bar.title = `${clock(s.start)}–${clock(s.end)} ${speakerName(speaker, names)}: ${s.text.trim()}`;
    timeline.append(bar);
    seconds.set(speaker, (seconds.get(speaker) || 0) + (s.end - s.start));
  }
  const parts = [];
  for (const [speaker, total] of seconds) {
    const name = speakerName(speaker, names);
    parts.push(`${name} ${clock(total)}`);
    const chip = el("li", `${speakerClass(speaker)} chip`, `${name} · ${clock(total)}`);
    const identity = speaker === null ? undefined : voices.get(speaker);
    if (identity) chip.title = t("speaker.recognised", { n: speaker + 1, c: identity.confidence.toFixed(2) });
    if (speaker !== null) {
      const edit = el("button", "ghost small name-speaker-open", t("speaker.name"));
      edit.dataset.speaker = String(speaker);
      edit.setAttribute("aria-label", `${t("speaker.name")}: ${name}`);
      edit.addEventListener("click", () => openNaming(speaker, name, identity?.user_id));
      chip.append(" ", edit);
    }
    legend.append(chip);
  }
  timeline.setAttribute("aria-label", `${t("meeting.timeline")}: ${parts.join(", ")}`);
}

function renderTasks(tasks, names) {
  const list = $("actions");
  list.replaceChildren();
  for (const task of tasks) {
    const li = el("li", `task task-${task.status}`);
    li.dataset.taskId = task.id;
    li.append(el("span", "task-title", task.title));
    const owner = task.assignee_id ? names.get(task.assignee_id) : null;
    const facts = el("span", "task-facts");
    facts.append(el("span", "owner", owner ? t("minutes.owner", { name: owner }) : t("minutes.noowner")));
    if (task.due_date) facts.append(" · ", el("span", "due", t("minutes.due", { date: dateOnly(task.due_date) })));
    facts.append(" · ", el("span", "task-status", t(`task.${task.status}`)));
    if (task.is_ai_generated) facts.append(" ", el("span", "badge", t("minutes.ai")));
    li.append(facts);
    list.append(li);
  }
}

/// The summary and, until the job has made them tasks, the action items as written; read again
/// while they are queued or being written.
async function loadMinutes(id, tasks, names) {
  clearTimeout(minutesTimer);
  const minutes = await api(`/v1/meetings/${id}/minutes`);
  if (shown?.id !== id) return;
  const status = $("minutes-status");
  const summary = $("summary");
  $("minutes").dataset.status = minutes.status;
  summary.textContent = minutes.summary?.trim() || "";
  status.textContent = {
    none: t("minutes.none"),
    queued: t("minutes.queued"),
    running: t("minutes.running"),
    failed: t("minutes.failed", { n: minutes.attempts }),
    ready: minutes.summary?.trim() ? "" : t("minutes.nosummary"),
  }[minutes.status];
  renderNotes("decisions", minutes.decisions, minutes.quotes);
  renderNotes("questions", minutes.open_questions, minutes.quotes);
  const list = $("actions");
  for (const stale of list.querySelectorAll(".ai-item, .hint")) stale.remove();
  if (minutes.status === "ready" && !tasks.length) {
    // Items the job wrote but did not keep as tasks (or a meeting summarised before tasks
    // existed): shown as written, with who and when as said.
    for (const item of minutes.action_items) list.append(actionItemLine(item, names));
    if (!minutes.action_items.length) list.append(el("li", "hint", t("minutes.noitems")));
  }
  if (minutes.status === "queued" || minutes.status === "running") {
    minutesTimer = setTimeout(() => showMeeting(id).catch(() => {}), POLL_MS);
  }
}

/// Decisions or open questions, each with when and by whom its line was said; the block is
/// hidden when there are none.
function renderNotes(id, notes, quotes) {
  const list = $(id);
  list.replaceChildren();
  for (const note of notes) {
    const li = el("li", "note", note.text);
    const quote = quotes.find((q) => q.seq === note.source_segments[0]);
    if (quote) {
      const at = t("minutes.at", { time: clock(quote.start), speaker: quote.speaker || "" }).replace(/, $/, "");
      li.append(" ", el("span", "said", `(${at})`));
      li.title = quote.text;
    }
    list.append(li);
  }
  $(`${id}-block`).hidden = !notes.length;
}

/// One action item as written, with who and when as said; `names` maps user ids to names.
export function actionItemLine(item, names) {
  const li = el("li", "task ai-item");
  li.append(el("span", "task-title", item.title));
  const facts = el("span", "task-facts");
  const owner = (item.assignee_id && names.get(item.assignee_id)) || item.assignee;
  facts.append(el("span", "owner", owner ? t("minutes.owner", { name: owner }) : t("minutes.noowner")));
  if (item.due_date) facts.append(" · ", el("span", "due", t("minutes.due", { date: dateOnly(item.due_date) })));
  if (item.due_date_text) facts.append(" · ", el("span", "said", t("minutes.said", { text: item.due_date_text })));
  li.append(facts);
  return li;
}

/// The form that says who a stored speaker is (any user of the tenant, or nobody).
async function openNaming(speaker, label, current) {
  const users = await userNames();
  const select = $("name-speaker-user");
  select.replaceChildren(new Option(t("speaker.nobody"), ""), ...[...users].map(([id, name]) => new Option(name, id)));
  select.value = current ?? "";
  $("name-speaker-label").textContent = `${label}?`;
  $("name-speaker").dataset.speaker = String(speaker);
  $("name-speaker").hidden = false;
  select.focus();
}

export async function nameSpeaker() {
  const form = $("name-speaker");
  const speaker = Number(form.dataset.speaker);
  const userId = $("name-speaker-user").value || null;
  await api(`/v1/meetings/${shown.id}/speaker-labels`, { method: "PATCH", body: { speaker, user_id: userId } });
  form.hidden = true;
  await showMeeting(shown.id);
}

export async function renameShown(title) {
  if (!shown) return;
  await api(`/v1/meetings/${shown.id}`, { method: "PATCH", body: { title } });
  await loadMeetings();
  await showMeeting(shown.id);
}

export async function deleteShown() {
  if (!shown || !confirm(t("meeting.deleteConfirm", { title: shown.title }))) return;
  await api(`/v1/meetings/${shown.id}`, { method: "DELETE" });
  shown = null;
  $("meeting").hidden = true;
  await loadMeetings();
}

export function showMeetingError(e) {
  $("meeting-error").textContent = problemMessage(e);
}
