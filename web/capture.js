// Microphone → AudioWorklet (16-bit PCM) → `/v1/listen` WebSocket, with a level meter and
// reconnection. Each connection is its own server session (and meeting): a reconnect mints a
// fresh stream token and starts a new one; audio captured while disconnected is not sent.

import { mintToken, wsUrl } from "./api.js";
import { problemMessage, t } from "./i18n.js";

const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000];
// Close codes after which trying again cannot help (bad audio, bad message, idle, too slow).
const FATAL_CODES = new Set([1003, 1007, 1008, 1009, 4000, 4001]);

export class Capture {
  /// `on`: { state(name, detail), result(msg), session(started), ended(msg), level(0..1),
  /// persistence(degraded) }
  constructor(options, on) {
    this.options = options;
    this.on = on;
    this.stopping = false;
    this.attempt = 0;
    this.socket = null;
  }

  async start() {
    this.on.state("connecting", "");
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule("/assets/pcm-worklet.js");
    const source = this.context.createMediaStreamSource(this.media);
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.writer = new AudioWorkletNode(this.context, "pcm-writer");
    this.writer.port.onmessage = (e) => {
      if (this.socket?.readyState === WebSocket.OPEN && this.sessionOpen) this.socket.send(e.data);
    };
    source.connect(this.analyser);
    source.connect(this.writer);
    // A node only runs while the graph pulls it: route the writer to the speakers, silenced.
    const mute = this.context.createGain();
    mute.gain.value = 0;
    this.writer.connect(mute).connect(this.context.destination);
    await this.context.resume();
    this.meter();
    await this.connect();
  }

  meter() {
    const samples = new Float32Array(this.analyser.fftSize);
    const tick = () => {
      if (!this.analyser) return;
      this.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      // RMS in dB mapped onto 0..1 over -60..0 dBFS, which is how loud speech looks.
      const db = 10 * Math.log10(sum / samples.length + 1e-12);
      this.on.level(Math.max(0, Math.min(1, (db + 60) / 60)));
      this.meterFrame = requestAnimationFrame(tick);
    };
    tick();
  }

  async connect() {
    if (this.stopping) return;
    if (!this.attempt) this.on.state("connecting", "");
    let token;
    try {
      token = await mintToken("stream");
    } catch (e) {
      if (e.status === 401 || e.status === 403) return this.fail(problemMessage(e));
      return this.retry(problemMessage(e));
    }
    const o = this.options;
    const params = new URLSearchParams({
      encoding: "linear16",
      sample_rate: String(this.context.sampleRate),
      channels: "1",
      interim_results: "true",
      diarize: "true",
    });
    if (o.language) params.set("language", o.language);
    if (o.model) params.set("model", o.model);
    if (o.title) params.set("title", o.title);
    params.set("record", String(Boolean(o.record)));
    // The token rides in the subprotocol, not the URL: URLs end up in logs.
    const socket = new WebSocket(wsUrl(`/v1/listen?${params}`), ["token", token]);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.sessionOpen = false;
    let lastError = null;
    socket.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      switch (msg.type) {
        case "SessionStarted":
          this.sessionOpen = true;
          this.attempt = 0;
          this.on.state("live", "");
          this.on.session(msg);
          break;
        case "Results":
          this.on.result(msg);
          break;
        case "PersistenceDegraded":
        case "PersistenceRestored":
          this.on.persistence?.(msg.type === "PersistenceDegraded");
          break;
        case "SessionEnded":
          this.on.ended(msg);
          break;
        case "ActionItemsProposed":
          this.on.proposed?.(msg);
          break;
        case "Error":
          lastError = msg;
          break;
      }
    };
    socket.onclose = (e) => {
      this.sessionOpen = false;
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopping) return this.finish();
      const why = lastError
        ? problemMessage({ code: lastError.code, message: lastError.message })
        : e.code === 1006
          ? t("error.network")
          : `${t("error.other", { detail: e.reason || "" })} (${e.code})`;
      const retryable = lastError ? lastError.retryable : !FATAL_CODES.has(e.code);
      if (retryable) this.retry(why);
      else this.fail(why);
    };
  }

  retry(why) {
    if (this.stopping) return;
    const delay = RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)];
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.on.state("reconnecting", t("retry.in", { why, s: (jittered / 1000).toFixed(1), n: this.attempt }));
    this.retryTimer = setTimeout(() => this.connect(), jittered);
  }

  fail(why) {
    this.release();
    this.on.state("error", why);
  }

  /// Asks the server to flush and close; resolves once the socket has closed (or after 20 s).
  async stop() {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return this.finish();
    this.on.state("closing", "");
    this.media?.getTracks().forEach((t) => t.stop());
    const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    socket.send(JSON.stringify({ type: "CloseStream" }));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 20000))]);
    this.finish();
  }

  finish() {
    this.release();
    this.on.state("stopped", "");
  }

  release() {
    cancelAnimationFrame(this.meterFrame);
    this.analyser = null;
    this.on.level(0);
    this.media?.getTracks().forEach((t) => t.stop());
    this.context?.close().catch(() => {});
    this.media = this.context = null;
    if (this.socket) {
      const s = this.socket;
      this.socket = null;
      s.close();
    }
  }
}
