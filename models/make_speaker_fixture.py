#!/usr/bin/env python3
"""Writes tests/fixtures/speaker_reference.json: Resemblyzer's own front end and partial-window
logic on real audio, with the GE2E network run by the float64 numpy re-implementation of the
PyTorch forward (`convert_resemblyzer.reference_embed`, no torch) on the original weights.

* Mel: `resemblyzer/audio.py` `wav_to_mel_spectrogram` and `VoiceEncoder.compute_partial_slices`
  are taken *from the wheel's source* (parsed with `ast` and executed with the wheel's
  `hparams.py`), so their arithmetic is the original: librosa.feature.melspectrogram(sr=16000,
  n_fft=400, hop_length=160, n_mels=40) with librosa's defaults (periodic Hann, centred STFT
  with zero padding (`pad_mode="constant"`, librosa >= 0.10), power 2, Slaney mel filters, no
  log), float32.
* `embed_utterance` (rate 1.3, min_coverage 0.75) is re-typed from voice_encoder.py with the
  torch call replaced by the numpy reference: pad the wav with zeros to the last slice's end,
  one mel over the whole padded wav, 160-frame slices, mean of the partial embeddings, L2 norm.
* `preprocess_wav` (volume normalisation to -30 dBFS and webrtcvad silence trimming) is NOT
  applied: the fixture is the network and front end on the raw samples.

Audio: `models/testdata/pyannote_sample.wav` (fetch.sh), samples [104000, 200000) = 6.5 s to
12.5 s, as int16 / 32768 (librosa.load's scaling). The recording's first 6.5 s are near silence
(RMS 3e-4, no speaker in the RTTM), so the window starts at the first speech turn; it holds both
speakers (speaker90 and speaker91).

    python3 -m venv models/.venv-fixture
    models/.venv-fixture/bin/pip install -r models/requirements-fixture.txt
    models/.venv-fixture/bin/python models/make_speaker_fixture.py [--wheel PATH]
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import wave
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from convert_resemblyzer import load_weights, reference_embed  # noqa: E402

WHEEL = "Resemblyzer-0.1.4-py3-none-any.whl"
START, END = 104_000, 200_000
MEL_FRAMES = [0, 1, 2, 3, 150, 300, 301, 450, -2, -1]


def original_functions(wheel: Path) -> dict:
    """`wav_to_mel_spectrogram` and `compute_partial_slices` compiled from the wheel's source."""
    import librosa

    zf = zipfile.ZipFile(wheel)
    ns: dict = {"np": np, "librosa": librosa}
    exec(compile(zf.read("resemblyzer/hparams.py"), "resemblyzer/hparams.py", "exec"), ns)
    wanted = {"audio.py": ["wav_to_mel_spectrogram"], "voice_encoder.py": ["compute_partial_slices"]}
    for file, names in wanted.items():
        tree = ast.parse(zf.read(f"resemblyzer/{file}"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                node.decorator_list = []  # @staticmethod
                mod = ast.Module(body=[node], type_ignores=[])
                exec(compile(mod, f"resemblyzer/{file}", "exec"), ns)
    return {"mel": ns["wav_to_mel_spectrogram"], "slices": ns["compute_partial_slices"]}


def embed_utterance(fns, weights, wav, rate=1.3, min_coverage=0.75):
    """voice_encoder.py `VoiceEncoder.embed_utterance`, with the numpy network."""
    wav_slices, mel_slices = fns["slices"](len(wav), rate, min_coverage)
    max_wave_length = wav_slices[-1].stop
    if max_wave_length >= len(wav):
        wav = np.pad(wav, (0, max_wave_length - len(wav)), "constant")
    mel = fns["mel"](wav)
    mels = np.array([mel[s] for s in mel_slices])
    partial_embeds = reference_embed(weights, mels).astype(np.float32)
    raw_embed = np.mean(partial_embeds, axis=0)
    embed = raw_embed / np.linalg.norm(raw_embed, 2)
    return embed, partial_embeds, wav_slices, mel_slices, mel, wav


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000), w.getparams()
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def f32(v) -> float:
    """Shortest decimal that reads back as the same float32."""
    return float(str(np.float32(v)))


def main():
    cache = Path(os.environ.get("DDALKKAK_CACHE_DIR", Path.home() / ".cache" / "ddalkkak"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", type=Path, default=cache / "wheels" / WHEEL)
    ap.add_argument("--audio", type=Path, default=HERE / "testdata" / "pyannote_sample.wav")
    ap.add_argument("--out", type=Path, default=HERE.parent / "tests" / "fixtures" / "speaker_reference.json")
    args = ap.parse_args()

    import librosa

    fns = original_functions(args.wheel)
    weights = load_weights(args.wheel)
    wav = read_wav(args.audio)[START:END]
    embed, partials, wav_slices, mel_slices, mel, padded = embed_utterance(fns, weights, wav)
    frames = [f % len(mel) for f in MEL_FRAMES]
    fixture = {
        "generator": "models/make_speaker_fixture.py (Resemblyzer 0.1.4 wav_to_mel_spectrogram + "
                     "compute_partial_slices from the wheel, embed_utterance with the numpy LSTM)",
        "librosa": librosa.__version__,
        "audio": "models/testdata/pyannote_sample.wav",
        "sample_range": [START, END],
        "samples_sum": float(np.sum(wav, dtype=np.float64)),
        "padded_samples": len(padded),
        "mel_frames_total": int(mel.shape[0]),
        "mel_frames": {str(f): [f32(v) for v in mel[f]] for f in frames},
        "rate": 1.3,
        "min_coverage": 0.75,
        "mel_slices": [[int(s.start), int(s.stop)] for s in mel_slices],
        "wav_slices": [[int(s.start), int(s.stop)] for s in wav_slices],
        "partial_embeddings": [[f32(v) for v in p] for p in partials],
        "embedding": [f32(v) for v in embed],
    }
    args.out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.1f} kB): mel {mel.shape}, "
          f"{len(mel_slices)} partials {fixture['mel_slices']}, embedding norm {np.linalg.norm(embed):.6f}")


if __name__ == "__main__":
    main()
