#!/usr/bin/env python3
"""Builds the held-out recording of docs/benchmarks.md ("Recordings"): the English clips of
../shared/dev-audio that have a reference text, 0.5 s apart, looped to at least 10 minutes, as one
16 kHz WAV, and the reference text looped the same way. Nothing is tuned on this set.

    models/.venv-verify/bin/python benches/recordings/heldout.py ../shared/dev-audio /tmp/heldout10
    models/.venv-bench/bin/python benches/recordings/heldout.py ../shared/dev-audio /tmp/heldout1 --once

`--once`: the clips once (about 67 s), the live benchmark's held-out recording.
"""
import os
import sys
import wave

import numpy as np
from faster_whisper.audio import decode_audio

FILES = [
    "openai_whisper/jfk.flac", "lhotse/ES2011a.Headset-0-40s-46s.wav", "lhotse/LJ002-0020.wav",
    "lhotse/LJ002-0035.wav", "deepspeech/LDC93S1.wav", "deepspeech/arctic_a0024.wav",
    "deepspeech/new-home-in-the-stars-16k.wav", "onnxruntime_extensions/1272-141231-0002.flac",
    "picovoice_cheetah/test_en.wav", "picovoice_falcon/test.wav", "picovoice_leopard/diarization_test.wav",
    "debian_pocketsphinx_testdata/goforward.wav",
]


def main() -> None:
    base, out = sys.argv[1], sys.argv[2]
    once_only = "--once" in sys.argv[3:]
    audio, texts = [], []
    for name in FILES:
        path = os.path.join(base, name)
        with open(os.path.splitext(path)[0] + ".txt") as f:
            texts.append(" ".join(f.read().split()))
        audio += [decode_audio(path), np.zeros(8000, dtype=np.float32)]
    once = np.concatenate(audio)
    loops = 1 if once_only else int(np.ceil(600 * 16000 / len(once)))
    pcm = (np.clip(np.tile(once, loops), -1, 1) * 32767).astype(np.int16)
    with wave.open(out + ".wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    with open(out + ".txt", "w") as f:
        f.write(" ".join([" ".join(texts)] * loops))
    print(f"{len(FILES)} clips, {len(once) / 16000:.1f} s, {loops} loops: {out}.wav, {out}.txt")


if __name__ == "__main__":
    main()
