#!/usr/bin/env python3
"""Token ids that faster-whisper decodes from a CTranslate2 Whisper directory: the reference the
Rust test `tests/models/asr_import.rs` compares our ONNX pipeline with, token for token (random
weights give no meaningful text, so ids are what can be compared).

Greedy and deterministic, the settings the test mirrors: `WhisperModel(dir, compute_type="float32")`,
`transcribe(language=L, beam_size=1, temperature=0, without_timestamps=True,
condition_on_previous_text=False, compression_ratio_threshold=None, log_prob_threshold=None,
no_speech_threshold=None)` (no fallback, no skipped windows; the forced language leaves
detection out), suppress_blank and suppress_tokens=[-1] at their defaults.

    models/.venv-verify/bin/python models/fw_reference_tokens.py --ct2-dir DIR \
        --audio models/testdata/pyannote_sample.wav --language en --out tests/fixtures/x.json

The JSON also records the sha256 of model.bin (the test refuses other weights), the audio's
name and sample count, the options and the faster-whisper / ctranslate2 versions.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import ctranslate2
import faster_whisper
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ct2-dir", required=True, type=Path)
    ap.add_argument("--audio", required=True, type=Path)
    ap.add_argument("--language", default="en")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--command", default="", help="the command line to record with the ids")
    a = ap.parse_args()
    options = dict(language=a.language, beam_size=1, temperature=0.0, without_timestamps=True,
                   condition_on_previous_text=False, compression_ratio_threshold=None,
                   log_prob_threshold=None, no_speech_threshold=None, max_new_tokens=a.max_new_tokens)
    t0 = time.perf_counter()
    model = WhisperModel(str(a.ct2_dir), device="cpu", compute_type="float32", cpu_threads=a.threads)
    loaded = time.perf_counter() - t0
    audio = decode_audio(str(a.audio))
    t0 = time.perf_counter()
    segments, info = model.transcribe(audio, **options)
    windows = [{"seek": s.seek, "tokens": list(s.tokens)} for s in segments]
    seconds = time.perf_counter() - t0
    out = {
        "model_bin_sha256": hashlib.sha256((a.ct2_dir / "model.bin").read_bytes()).hexdigest(),
        "n_mels": model.feature_extractor.mel_filters.shape[0],
        "audio": a.audio.name,
        "audio_samples": len(audio),
        "options": {k: v for k, v in options.items() if v is not None},
        "windows": windows,
        "faster_whisper": faster_whisper.__version__,
        "ctranslate2": ctranslate2.__version__,
        "command": a.command,
    }
    n = sum(len(w["tokens"]) for w in windows)
    print(f"[fw] {a.ct2_dir.name}: {len(windows)} window(s), {n} tokens, load {loaded:.1f}s, "
          f"transcribe {seconds:.1f}s; first ids {windows[0]['tokens'][:12] if windows else []}", flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
