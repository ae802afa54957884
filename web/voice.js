// "My voice": a signed-in user records 15 s of speech (the server needs 5 s of it) (MediaRecorder, WebM/Opus) and
// enrolls it (`PUT /v1/users/{id}/voiceprint?consent=true`), so stored meetings name them; they
// can delete it again. Consent is an explicit tick, sent with the upload.

import { ApiError, api } from "./api.js";
import { dateTime, problemMessage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const RECORD_MS = 15_000;
let user = null;

export async function showVoice(me) {
  user = me;
  $("voice-error").textContent = "";
  // The user record says whether a voice is enrolled (asking for the voiceprint would be a 404).
  const current = await api(`/v1/users/${user.id}`);
  $("voice-status").textContent = current.has_voiceprint
    ? t("voice.enrolled", { date: dateTime(current.voiceprint_enrolled_at) })
    : t("voice.none");
  $("voice-delete").hidden = !current.has_voiceprint;
}

async function record(micProblem) {
  const error = $("voice-error");
  error.textContent = "";
  if (!$("voice-consent").checked) {
    error.textContent = t("voice.needConsent");
    return;
  }
  let media;
  try {
    // The voice as it is: no noise suppression or echo cancellation reshaping it.
    media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: true },
    });
  } catch (e) {
    error.textContent = micProblem(e);
    return;
  }
  const button = $("voice-record");
  button.disabled = true;
  button.textContent = t("voice.recording");
  try {
    const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
    const recorder = new MediaRecorder(media, type ? { mimeType: type } : {});
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    const stopped = new Promise((resolve) => (recorder.onstop = resolve));
    recorder.start(1000);
    await new Promise((resolve) => setTimeout(resolve, RECORD_MS));
    recorder.stop();
    await stopped;
    const body = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
    const response = await fetch(`/v1/users/${user.id}/voiceprint?consent=true`, {
      method: "PUT",
      headers: { "x-ddalkkak-csrf": "1", "content-type": body.type },
      body,
      credentials: "same-origin",
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    await showVoice(user);
  } catch (e) {
    error.textContent = problemMessage(e);
  } finally {
    media.getTracks().forEach((track) => track.stop());
    button.disabled = false;
    button.textContent = t("voice.record");
  }
}

async function remove() {
  try {
    await api(`/v1/users/${user.id}/voiceprint`, { method: "DELETE" });
    await showVoice(user);
  } catch (e) {
    $("voice-error").textContent = problemMessage(e);
  }
}

/// `micProblem(error)`: what to tell the user when the microphone cannot be opened.
export function initVoice(micProblem) {
  $("voice-record").addEventListener("click", () => record(micProblem));
  $("voice-delete").addEventListener("click", remove);
}
