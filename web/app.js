// The capture page: sign in / out, start and stop a live session, show its captions (partials
// greyed, finals in their speaker's colour after the speaker's name), the overlay link, and the
// meetings list with recording uploads.

import { api, ApiError, mintToken } from "./api.js";
import { Capture } from "./capture.js";
import { captionLine, lastSpeaker } from "./captions.js";
import { applyStatic, languageName, problemMessage, setUiLanguage, t, uiLanguage } from "./i18n.js";
import {
  actionItemLine,
  deleteShown,
  loadMeetings,
  nameSpeaker,
  renameShown,
  showMeeting,
  showMeetingError,
  stopPolling,
  uploadRecording,
} from "./meetings.js";
import { initGlossary, showGlossary } from "./glossary.js";
import { initVoice, showVoice } from "./voice.js";

const $ = (id) => document.getElementById(id);
let capture = null;
let models = [];
let tenantLanguage = null;
let lastState = ["idle", ""];

function setConnection(state, detail) {
  lastState = [state, detail];
  const badge = $("conn");
  badge.hidden = false;
  badge.dataset.state = state;
  badge.textContent = t(`conn.${state}`);
  badge.title = detail || "";
  const busy = ["connecting", "reconnecting", "live", "closing"].includes(state);
  $("start").disabled = busy || !models.length;
  $("stop").disabled = !busy || state === "closing";
  // What a session was started with does not change while it runs.
  for (const id of ["language", "model", "title"]) $(id).disabled = busy;
  $("capture-error").textContent = state === "error" || state === "reconnecting" ? detail : "";
  if (!busy) $("overlay").hidden = true;
}

/// Languages of every served model, Korean first for a Korean team, the team's default chosen.
function fillLanguages() {
  const codes = [...new Set(models.flatMap((m) => m.languages))];
  const first = tenantLanguage || (uiLanguage() === "ko" && codes.includes("ko") ? "ko" : null);
  codes.sort((a, b) => (b === first) - (a === first) || (a === "multi") - (b === "multi"));
  const select = $("language");
  const keep = select.value;
  select.replaceChildren(...codes.map((code) => new Option(languageName(code), code)));
  select.value = codes.includes(keep) ? keep : codes[0] || "";
  fillModels();
}

/// "Automatic" plus the models that serve the chosen language.
function fillModels() {
  const language = $("language").value;
  const select = $("model");
  const keep = select.value;
  const serving = models.filter((m) => m.languages.includes(language));
  select.replaceChildren(new Option(t("live.model.auto"), ""), ...serving.map((m) => new Option(m.name, m.id)));
  select.value = serving.some((m) => m.id === keep) ? keep : "";
}

function localTitle() {
  const when = new Date().toLocaleString(uiLanguage() === "ko" ? "ko-KR" : undefined, { dateStyle: "medium", timeStyle: "short" });
  return t("live.title.placeholder", { when });
}

async function showSignedIn(me) {
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = `${me.user.name || me.user.email} · ${me.tenant.name}`;
  $("who").title = me.user.role;
  tenantLanguage = me.tenant.default_language || null;
  $("record").checked = Boolean(me.tenant.record_sessions);
  ({ models } = await api("/v1/models"));
  fillLanguages();
  $("title").placeholder = localTitle();
  setConnection("idle", "");
  if (!models.length) $("capture-error").textContent = t("live.nomodels");
  showGlossary(me);
  await Promise.all([loadMeetings(), showVoice(me.user).catch(() => {})]);
}

function showSignedOut(message, notice = "") {
  stopPolling();
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("conn").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("sign-in-notice").textContent = notice;
  $("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("api-key");
  const apiKey = input.value.trim();
  // The key leaves the page with this request and is not kept anywhere after it.
  input.value = "";
  try {
    await api("/v1/web-session", { method: "POST", body: { api_key: apiKey } });
  } catch (e) {
    return showSignedOut(problemMessage(e, { signingIn: true }));
  }
  try {
    await showSignedIn(await api("/v1/me"));
  } catch (e) {
    showSignedOut(problemMessage(e));
  }
}

async function signOut() {
  await capture?.stop();
  await api("/v1/web-session", { method: "DELETE" }).catch(() => {});
  showSignedOut("", t("signout.done"));
}

function onResult(msg) {
  const box = $("captions");
  box.querySelector(".placeholder")?.remove();
  box.querySelector(".partial")?.remove();
  const text = msg.channel?.alternatives?.[0]?.transcript?.trim();
  if (!text) return;
  const finals = box.querySelectorAll(".final");
  box.append(captionLine(msg, msg.is_final ? "final" : "partial", lastSpeaker(finals[finals.length - 1])));
  box.scrollTop = box.scrollHeight;
}

async function onSession(msg) {
  $("captions").dataset.session = msg.session_id;
  // The live meeting is listed at once, and the list follows it until it is done.
  loadMeetings().catch(() => {});
  try {
    // One hour: the longest a view token lives; an overlay connected by then keeps watching.
    const token = await mintToken("view", msg.session_id, 3600);
    const url = `${location.origin}/overlay/${msg.session_id}#token=${encodeURIComponent(token)}`;
    $("overlay-link").href = url;
    $("overlay").hidden = false;
  } catch (e) {
    $("capture-error").textContent = t("overlay.failed", { detail: problemMessage(e) });
  }
}

function micProblem(e) {
  switch (e?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return t("mic.denied");
    case "NotFoundError":
    case "OverconstrainedError":
      return t("mic.missing");
    case "NotReadableError":
    case "AbortError":
      return t("mic.busy");
    default:
      return t("mic.other", { detail: e?.message || String(e) });
  }
}

/// The provisional action items of the live meeting (each message is the whole list).
function onProposed(msg) {
  const items = msg.action_items ?? [];
  $("proposed-items").replaceChildren(...items.map((item) => actionItemLine(item, new Map())));
  $("proposed").hidden = items.length === 0;
}

async function start() {
  $("captions").replaceChildren();
  $("proposed-items").replaceChildren();
  $("proposed").hidden = true;
  delete $("captions").dataset.session;
  $("overlay").hidden = true;
  const title = $("title").value.trim() || localTitle();
  capture = new Capture(
    { language: $("language").value, model: $("model").value, title, record: $("record").checked },
    {
      state: setConnection,
      result: onResult,
      session: onSession,
      ended: () => {},
      proposed: onProposed,
      persistence: (degraded) => ($("capture-error").textContent = degraded ? t("live.degraded") : ""),
      level: (v) => {
        $("level").style.setProperty("--level", v.toFixed(3));
        $("meter").setAttribute("aria-valuenow", String(Math.round(v * 100)));
      },
    },
  );
  try {
    await capture.start();
  } catch (e) {
    capture.release();
    setConnection("error", micProblem(e));
  }
}

async function stop() {
  await capture?.stop();
  capture = null;
  $("title").placeholder = localTitle();
  const id = $("captions").dataset.session ? await meetingOfSession($("captions").dataset.session) : null;
  await loadMeetings();
  if (id) await showMeeting(id);
}

async function meetingOfSession(sessionId) {
  try {
    return (await api(`/v1/realtime-sessions/${sessionId}`)).meeting_id;
  } catch {
    return null;
  }
}

function relabel() {
  applyStatic();
  if (!$("app").hidden) {
    fillLanguages();
    $("title").placeholder = localTitle();
    setConnection(...lastState);
    loadMeetings().catch(() => {});
    api("/v1/me").then((me) => showVoice(me.user)).catch(() => {});
    const id = $("meeting").dataset.id;
    if (id && !$("meeting").hidden) showMeeting(id).catch(showMeetingError);
  }
}

async function main() {
  applyStatic();
  $("ui-language").value = uiLanguage();
  $("ui-language").addEventListener("change", (e) => {
    setUiLanguage(e.target.value);
    relabel();
  });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  $("language").addEventListener("change", fillModels);
  $("refresh").addEventListener("click", () => loadMeetings().catch(showMeetingError));
  $("upload-file").addEventListener("change", (e) => {
    const file = e.target.files?.[0];
    e.target.value = ""; // the same file may be chosen again
    if (file) uploadRecording(file).catch(showMeetingError);
  });
  let searchTimer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadMeetings().catch(showMeetingError), 300);
  });
  $("rename").addEventListener("click", () => {
    $("rename-input").value = $("meeting-title").textContent;
    $("meeting-title").hidden = true;
    $("rename-form").hidden = false;
    $("rename-input").focus();
  });
  $("rename-cancel").addEventListener("click", () => {
    $("rename-form").hidden = true;
    $("meeting-title").hidden = false;
  });
  $("rename-form").addEventListener("submit", (e) => {
    e.preventDefault();
    renameShown($("rename-input").value.trim()).catch(showMeetingError);
  });
  $("delete").addEventListener("click", () => deleteShown().catch(showMeetingError));
  initVoice(micProblem);
  initGlossary();
  $("name-speaker").addEventListener("submit", (e) => {
    e.preventDefault();
    nameSpeaker().catch(showMeetingError);
  });
  $("name-speaker-cancel").addEventListener("click", () => ($("name-speaker").hidden = true));
  $("overlay-copy").addEventListener("click", async () => {
    await navigator.clipboard?.writeText($("overlay-link").href);
    $("overlay-copy").textContent = t("overlay.copied");
    setTimeout(() => ($("overlay-copy").textContent = t("overlay.copy")), 2000);
  });
  try {
    await showSignedIn(await api("/v1/me"));
  } catch (e) {
    showSignedOut(e instanceof ApiError && e.status === 401 ? "" : problemMessage(e));
  }
}

main();
