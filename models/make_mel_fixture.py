#!/usr/bin/env python3
"""Writes tests/fixtures/mel_reference.json: faster-whisper's FeatureExtractor (the reference
log-mel front end) applied to a deterministic, integer-generated test signal that the Rust test
regenerates bit for bit. Run with the verification venv:

    models/.venv-verify/bin/python models/make_mel_fixture.py
"""
import json
from pathlib import Path

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

N = 12_000  # 0.75 s at 16 kHz


def signal() -> np.ndarray:
    out = np.empty(N, dtype=np.float32)
    state = 12345
    for i in range(N):
        state = (state * 1103515245 + 12345) % 2**31
        noise = ((state >> 8) % 2001 - 1000) / 8000.0          # exact in float32
        period = 40 + (i // 1600) * 8                          # stepped pitch: 400 Hz .. 200 Hz
        phase = i % period
        tri = (abs(2 * phase - period) / period - 0.5) * 0.8   # triangle wave
        out[i] = np.float32(noise + tri)
    return out


def main() -> None:
    audio = signal()
    mel = FeatureExtractor()(audio)  # [80, N/160 + 1]
    path = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mel_reference.json"
    path.write_text(json.dumps({
        "generator": "models/make_mel_fixture.py (faster-whisper FeatureExtractor)",
        "samples": N,
        "n_mels": int(mel.shape[0]),
        "frames": int(mel.shape[1]),
        "mel": [round(float(v), 6) for v in mel.reshape(-1)],
    }))
    print(f"wrote {path} ({mel.shape})")


if __name__ == "__main__":
    main()
