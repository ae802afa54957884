// Caption overlay (an OBS browser source): the last two caption lines of one session, large, on
// a transparent background. URL: /overlay/{session}#token=<view token>; the token stays in the
// fragment so it never reaches a server log. `?size=64` sets the font size in pixels.

import { captionLine } from "./captions.js";
import { wsUrl } from "./api.js";

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
  socket.onclose = (e) => {
    // 1000: the session ended; anything else (network, restart, not started yet): try again.
    if (e.code === 1000) return status("");
    const delay = Math.min(15000, 500 * 2 ** attempt++);
    status(attempt > 2 ? "reconnecting…" : "");
    setTimeout(connect, delay);
  };
}

if (!token) status("no view token in the URL (#token=…)");
else connect();
