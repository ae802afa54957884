// Streams a 16 kHz mono 16-bit WAV to a DdalKkak server with the official Deepgram JS SDK
// (`@deepgram/sdk`, unchanged, pointed at our URL) in real time and prints one JSON line per
// event it received, then a summary line. Used by tests/live/deepgram_sdk.rs.
//
//   node tests/sdk/deepgram_live.mjs ws://127.0.0.1:8080 <api key> file.wav [speed] [options JSON]
//
// The options JSON is merged into the SDK's listen options (e.g. '{"language":"ko"}').
import { readFileSync } from "node:fs";
import { createClient, LiveTranscriptionEvents } from "@deepgram/sdk";

const [url, key, wav, speedArg, optionsArg] = process.argv.slice(2);
const speed = Number(speedArg ?? "1");
const pcm = readFileSync(wav).subarray(44);
const deepgram = createClient(key, { global: { websocket: { options: { url } } } });
const live = deepgram.listen.live({
  model: "nova-2",
  encoding: "linear16",
  sample_rate: 16000,
  channels: 1,
  interim_results: true,
  smart_format: true,
  utterance_end_ms: 1000,
  vad_events: true,
  ...JSON.parse(optionsArg ?? "{}"),
});

const events = { Transcript: 0, partials: 0, finals: 0, Metadata: 0, UtteranceEnd: 0, SpeechStarted: 0, Unhandled: 0 };
const finals = [];
live.on(LiveTranscriptionEvents.Open, async () => {
  const frame = 3200; // 100 ms
  for (let at = 0; at < pcm.length; at += frame) {
    live.send(pcm.subarray(at, at + frame));
    await new Promise((r) => setTimeout(r, 100 / speed));
  }
  live.requestClose();
});
live.on(LiveTranscriptionEvents.Transcript, (m) => {
  events.Transcript++;
  if (m.is_final) {
    events.finals++;
    const t = m.channel.alternatives[0].transcript;
    if (t) finals.push(t);
  } else {
    events.partials++;
  }
});
for (const name of ["Metadata", "UtteranceEnd", "SpeechStarted", "Unhandled"]) {
  live.on(LiveTranscriptionEvents[name], () => events[name]++);
}
live.on(LiveTranscriptionEvents.Error, (e) => {
  console.log(JSON.stringify({ error: String(e?.message ?? e) }));
  process.exit(1);
});
live.on(LiveTranscriptionEvents.Close, (e) => {
  console.log(JSON.stringify({ events, code: e?.code ?? null, transcript: finals.join(" ") }));
  process.exit(0);
});
