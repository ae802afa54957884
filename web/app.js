// The capture page: sign in / out, start and stop a live session, show its captions (partials
// greyed, finals coloured by speaker), the overlay link, and the meetings list.

import { api, ApiError, mintToken } from "./api.js";
import { Capture } from "./capture.js";
import { captionLine } from "./captions.js";
import { loadMeetings, showMeeting } from "./meetings.js";

const $ = (id) => document.getElementById(id);
let capture = null;

function setConnection(state, detail) {
  const badge = $("conn");
  badge.dataset.state = state;
  badge.textContent = state;
  badge.title = detail || "";
  const busy = ["connecting", "reconnecting", "live", "closing"].includes(state);
  $("start").disabled = busy;
  $("stop").disabled = !busy || state === "closing";
  $("capture-error").textContent = state === "error" || state === "reconnecting" ? detail : "";
}

async function showSignedIn(me) {
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = `${me.user.name || me.user.email} · ${me.tenant.name} (${me.user.role})`;
  const { models } = await api("/v1/models");
  const model = $("model");
  const language = $("language");
  model.replaceChildren(...models.map((m) => new Option(m.name, m.id)));
  const languages = models[0]?.languages || [];
  language.replaceChildren(...languages.map((l) => new Option(l === "multi" ? "detect" : l, l)));
  if (!models.length) {
    $("start").disabled = true;
    $("capture-error").textContent = "This server runs without speech models (--no-live).";
  }
  await loadMeetings();
}

function showSignedOut(message) {
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
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
    await showSignedIn(await api("/v1/me"));
  } catch (e) {
    showSignedOut(e instanceof ApiError ? e.message : String(e));
  }
}

async function signOut() {
  await capture?.stop();
  await api("/v1/web-session", { method: "DELETE" }).catch(() => {});
  showSignedOut("Signed out.");
}

function onResult(msg) {
  const box = $("captions");
  box.querySelector(".placeholder")?.remove();
  box.querySelector(".partial")?.remove();
  const text = msg.channel?.alternatives?.[0]?.transcript?.trim();
  if (!text) return;
  box.append(captionLine(msg, msg.is_final ? "final" : "partial"));
  box.scrollTop = box.scrollHeight;
}

async function onSession(msg) {
  $("captions").dataset.session = msg.session_id;
  try {
    // One hour: the longest a view token lives; an overlay connected by then keeps watching.
    const token = await mintToken("view", msg.session_id, 3600);
    const url = `${location.origin}/overlay/${msg.session_id}#token=${encodeURIComponent(token)}`;
    $("overlay-link").href = url;
    $("overlay").hidden = false;
  } catch (e) {
    $("capture-error").textContent = `no overlay link: ${e.message}`;
  }
}

async function start() {
  $("captions").replaceChildren();
  $("overlay").hidden = true;
  capture = new Capture(
    { language: $("language").value, model: $("model").value, title: $("title").value.trim() },
    {
      state: setConnection,
      result: onResult,
      session: onSession,
      ended: () => {},
      level: (v) => $("level").style.setProperty("--level", v.toFixed(3)),
    },
  );
  try {
    await capture.start();
  } catch (e) {
    capture.release();
    setConnection("error", `microphone: ${e.message}`);
  }
}

async function stop() {
  await capture?.stop();
  capture = null;
  await loadMeetings();
  const first = document.querySelector(".meeting-item");
  if (first) await showMeeting(first.dataset.id);
}

async function main() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  $("refresh").addEventListener("click", () => loadMeetings());
  $("overlay-copy").addEventListener("click", () => navigator.clipboard?.writeText($("overlay-link").href));
  setConnection("idle", "");
  try {
    await showSignedIn(await api("/v1/me"));
  } catch (e) {
    showSignedOut(e instanceof ApiError && e.status === 401 ? "" : String(e.message || e));
  }
}

main();
