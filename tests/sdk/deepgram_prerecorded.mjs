// Transcribes a recording with the official Deepgram JS SDK's pre-recorded calls (`@deepgram/sdk`,
// unchanged, pointed at our URL): `transcribeFile` with the file's bytes, then `transcribeUrl`
// with a URL the server fetches. Prints one JSON line per call. Used by tests/live/deepgram_sdk.rs.
//
//   node tests/sdk/deepgram_prerecorded.mjs http://127.0.0.1:8080 <api key> file.wav http://…/file.wav
import { readFileSync } from "node:fs";
import { createClient } from "@deepgram/sdk";

const [url, key, wav, audioUrl] = process.argv.slice(2);
const deepgram = createClient(key, { global: { fetch: { options: { url } } } });
const options = { model: "nova-2", smart_format: true, punctuate: true, diarize: true, utterances: true, paragraphs: true };

function summary(call, { result, error }) {
  if (error) return { call, error: String(error.message ?? error) };
  const alternative = result.results.channels[0].alternatives[0];
  return {
    call,
    request_id: result.metadata.request_id,
    duration: result.metadata.duration,
    models: result.metadata.models.length,
    transcript: alternative.transcript,
    words: alternative.words.length,
    speakers: [...new Set(alternative.words.map((w) => w.speaker))].sort(),
    paragraphs: alternative.paragraphs?.paragraphs.length ?? 0,
    utterances: result.results.utterances?.length ?? 0,
    language: result.results.channels[0].detected_language ?? null,
  };
}

console.log(JSON.stringify(summary("file", await deepgram.listen.prerecorded.transcribeFile(readFileSync(wav), options))));
console.log(JSON.stringify(summary("url", await deepgram.listen.prerecorded.transcribeUrl({ url: audioUrl }, options))));
