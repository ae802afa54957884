// The meetings list and one meeting: transcript by speaker, a speaker timeline, action items
// (the meeting's tasks, and the AI's list when it has run), and transcript downloads.

import { api } from "./api.js";
import { speakerClass } from "./captions.js";

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export async function loadMeetings() {
  const page = await api("/v1/meetings?limit=20");
  const list = $("meeting-list");
  list.replaceChildren();
  if (!page.items.length) list.append(el("li", "hint", "No meetings yet."));
  for (const m of page.items) {
    const li = el("li");
    const button = el("button", "meeting-item");
    button.dataset.id = m.id;
    button.append(el("span", "meeting-name", m.title), el("span", `status status-${m.stt_status}`, m.stt_status));
    const when = new Date(m.created_at).toLocaleString();
    button.append(el("span", "hint", m.audio_duration ? `${when} · ${clock(m.audio_duration)}` : when));
    button.addEventListener("click", () => showMeeting(m.id));
    li.append(button);
    list.append(li);
  }
}

export async function showMeeting(id) {
  const [m, tasks] = await Promise.all([
    api(`/v1/meetings/${id}`),
    api(`/v1/tasks?meeting_id=${id}&limit=100`),
  ]);
  $("meeting").hidden = false;
  $("meeting").dataset.id = id;
  $("meeting-title").textContent = m.title;
  const segments = (m.transcript_segments || []).filter((s) => s.text?.trim());
  const duration = m.audio_duration || segments.reduce((end, s) => Math.max(end, s.end), 0);
  $("meeting-meta").textContent =
    `${m.stt_status} · ${clock(duration)} · ${segments.length} segments · ${new Date(m.created_at).toLocaleString()}`;
  for (const format of ["srt", "vtt", "json"]) {
    const a = $(`dl-${format}`);
    a.href = `/v1/meetings/${id}/transcript?format=${format}`;
    a.download = `meeting-${id}.${format}`;
  }
  // Voices the minutes job recognised show the person's name.
  const names = new Map((m.speaker_labels || []).filter((l) => l.identity).map((l) => [l.speaker, l.identity]));
  renderTimeline(segments, duration, names);
  renderActions(tasks.items, m.ai_action_items);
  const transcript = $("transcript");
  transcript.replaceChildren();
  for (const s of segments) {
    const p = el("p", "segment");
    p.append(el("span", "time", clock(s.start)));
    const who = s.speaker ?? null;
    p.append(el("span", `${speakerClass(who)} text`, s.text.trim()));
    transcript.append(p);
  }
  if (!segments.length) transcript.append(el("p", "hint", m.transcript_text || "No transcript."));
}

function speakerName(speaker, names) {
  if (speaker === null) return "speaker ?";
  return names.get(speaker)?.name ?? `Speaker ${speaker + 1}`;
}

function renderTimeline(segments, duration, names) {
  const timeline = $("timeline");
  const legend = $("legend");
  timeline.replaceChildren();
  legend.replaceChildren();
  if (!duration) return;
  const speakers = new Set();
  for (const s of segments) {
    const bar = el("span", `${speakerClass(s.speaker ?? null)} block`);
    bar.style.left = `${(100 * s.start) / duration}%`;
    bar.style.width = `${Math.max(0.3, (100 * (s.end - s.start)) / duration)}%`;
    bar.title = `${clock(s.start)}–${clock(s.end)} ${s.text.trim()}`;
    timeline.append(bar);
    speakers.add(s.speaker ?? null);
  }
  for (const sp of speakers) {
    const chip = el("span", `${speakerClass(sp)} chip`, speakerName(sp, names));
    const identity = sp === null ? undefined : names.get(sp);
    if (identity) chip.title = `Speaker ${sp + 1}, recognised from the conversation (confidence ${identity.confidence.toFixed(2)})`;
    legend.append(chip);
  }
}

function renderActions(tasks, aiItems) {
  const list = $("actions");
  list.replaceChildren();
  for (const t of tasks) {
    const li = el("li", `task task-${t.status}`, t.title);
    if (t.is_ai_generated) li.append(el("span", "badge", "AI"));
    list.append(li);
  }
  // Before the job has turned them into tasks, show what the summary produced.
  if (!tasks.length && Array.isArray(aiItems)) {
    for (const item of aiItems) {
      const text = typeof item === "string" ? item : item.title || item.text || JSON.stringify(item);
      list.append(el("li", "task", text));
    }
  }
  if (!list.children.length) list.append(el("li", "hint", "None yet (they appear after the meeting is summarised)."));
}
