// What the capture page, the meeting view and the overlay share: turning a `Results` message into
// runs of text per speaker, and how a speaker is shown (a name or number, and a colour that only
// repeats what the name says).

import { t } from "./i18n.js";

/// `[{speaker, name, text}]`: consecutive words of the same speaker joined. Words without a
/// speaker (diarize off) get `null`; a result without words is one run of its transcript.
export function speakerRuns(result) {
  const alt = result.channel?.alternatives?.[0];
  if (!alt) return [];
  if (!alt.words?.length) return alt.transcript ? [{ speaker: null, name: null, text: alt.transcript }] : [];
  const runs = [];
  for (const w of alt.words) {
    const speaker = w.speaker ?? null;
    const word = w.punctuated_word || w.word;
    const last = runs[runs.length - 1];
    if (last && last.speaker === speaker) last.text += ` ${word}`;
    else runs.push({ speaker, name: w.speaker_name ?? null, text: word });
  }
  return runs;
}

export function speakerClass(speaker) {
  return speaker === null || speaker === undefined ? "spk-none" : `spk-${speaker % 8}`;
}

/// "Speaker 2", or the person's name when it is known (`names`: speaker → name).
export function speakerName(speaker, names) {
  if (speaker === null || speaker === undefined) return t("speaker.unknown");
  return names?.get(speaker) ?? t("speaker.n", { n: speaker + 1 });
}

/// A paragraph of runs, each after its speaker's name when the speaker changes. `previous`: the
/// speaker the last line ended with, so a line that goes on with the same voice is not labelled
/// again.
export function captionLine(result, className, previous = undefined) {
  const p = document.createElement("p");
  p.className = className;
  let last = previous;
  for (const run of speakerRuns(result)) {
    if (run.speaker !== null && run.speaker !== last) {
      const who = document.createElement("span");
      who.className = `who ${speakerClass(run.speaker)}`;
      who.textContent = `${run.name ?? speakerName(run.speaker)}:`;
      p.append(who, " ");
    }
    last = run.speaker;
    const span = document.createElement("span");
    span.className = `run ${speakerClass(run.speaker)}`;
    span.textContent = run.text;
    if (run.speaker !== null) span.dataset.speaker = String(run.speaker);
    p.append(span, " ");
  }
  p.dataset.lastSpeaker = last === null || last === undefined ? "" : String(last);
  return p;
}

/// The speaker a line made by `captionLine` ended with.
export function lastSpeaker(line) {
  const v = line?.dataset.lastSpeaker;
  return v === undefined || v === "" ? undefined : Number(v);
}
