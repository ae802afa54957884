// Caption overlay (an OBS browser source): the last two caption lines of one session, large, on
// a transparent background. URL: /overlay/{session}#token=<view token>; the token stays in the
// fragment so it never reaches a server log. `?size=64` sets the font size in pixels.

import { captionLine } from "./captions.js";
import { wsUrl } from "./api.js";
import { applyStatic, t } from "./i18n.js";

const LINES = 2;
const session = location.pathname.split("/").filter(Boolean).pop();
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const size = Number(new URLSearchParams(location.search).get("size"));
if (size >= 12 && size <= 200) document.documentElement.style.setProperty("--size", `${size}px`);

const linesBox = document.getElementById("lines");
const statusLine = document.getElementById("status");
let finals = [];
let partial = null;
let attempt = 0;
applyStatic();

function render() {
  const shown = [...finals, partial].filter(Boolean).slice(-LINES);
  linesBox.replaceChildren(...shown.map((r) => captionLine(r, r.is_final ? "line final" : "line partial")));
}

function status(text) {
  statusLine.textContent = text;
  statusLine.hidden = !text;
}

function connect() {
  // The token rides in the subprotocol, not the URL: URLs end up in logs.
  const socket = new WebSocket(wsUrl(`/v1/realtime-sessions/${session}/captions`), ["token", token]);
  socket.onopen = () => {
    attempt = 0;
    status("");
  };
  socket.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type !== "Results" || !msg.channel?.alternatives?.[0]?.transcript?.trim()) return;
    if (msg.is_final) {
      finals = [...finals.slice(-(LINES - 1)), msg];
      partial = null;
    } else {
      partial = msg;
    }
    render();
  };
  let opened = false;
  socket.addEventListener("open", () => (opened = true));
  socket.onclose = async (e) => {
    // 1000: the session ended; anything else (network, restart, not started yet): try again,
    // unless the server refuses this link for good.
    if (e.code === 1000) return status("");
    if (!opened) {
      const refusal = await refused();
      if (refusal) return status(refusal);
    }
    const delay = Math.min(15000, 500 * 2 ** attempt++);
    status(attempt > 2 ? t("overlay.reconnecting") : "");
    setTimeout(connect, delay);
  };
}

/// A WebSocket that is refused tells the page nothing; the same request as Server-Sent Events
/// says why. Returns the message to show when retrying cannot help, else null.
async function refused() {
  const abort = new AbortController();
  try {
    const response = await fetch(`/v1/realtime-sessions/${session}/captions`, {
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
      signal: abort.signal,
      cache: "no-store",
    });
    const messages = { 401: "overlay.invalid", 403: "overlay.otherSession", 404: "overlay.unknown", 410: "overlay.ended" };
    return messages[response.status] ? t(messages[response.status]) : null;
  } catch {
    return null;
  } finally {
    abort.abort();
  }
}

if (!token) status(t("overlay.invalid"));
else connect();
