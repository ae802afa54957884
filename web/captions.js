// What the capture page and the overlay share: turning a `Results` message into runs of text per
// speaker, and a speaker's colour class.

/// `[{speaker, text}]`: consecutive words of the same speaker joined. Words without a speaker
/// (diarize off) get `null`; a result without words is one run of its transcript.
export function speakerRuns(result) {
  const alt = result.channel?.alternatives?.[0];
  if (!alt) return [];
  if (!alt.words?.length) return alt.transcript ? [{ speaker: null, text: alt.transcript }] : [];
  const runs = [];
  for (const w of alt.words) {
    const speaker = w.speaker ?? null;
    const word = w.punctuated_word || w.word;
    const last = runs[runs.length - 1];
    if (last && last.speaker === speaker) last.text += ` ${word}`;
    else runs.push({ speaker, text: word });
  }
  return runs;
}

export function speakerClass(speaker) {
  return speaker === null || speaker === undefined ? "spk-none" : `spk-${speaker % 8}`;
}

/// A paragraph of coloured runs.
export function captionLine(result, className) {
  const p = document.createElement("p");
  p.className = className;
  for (const run of speakerRuns(result)) {
    const span = document.createElement("span");
    span.className = speakerClass(run.speaker);
    span.textContent = run.text;
    if (run.speaker !== null) span.dataset.speaker = String(run.speaker);
    p.append(span, " ");
  }
  return p;
}
