#!/usr/bin/env python3
"""The speed/accuracy peer for `examples/asr_parity.rs`: transcribes files with faster-whisper on
the same CTranslate2 weights our ONNX graphs were converted from, and prints one JSON object per
file: {"path", "text", "seconds", "audio_seconds"}. Audio is decoded before the clock starts and
the model is loaded once, so `seconds` is transcription time only, as on our side.

    models/.venv-verify/bin/python models/fw_transcribe.py --ct2-dir models/whisper-tiny.en/ct2 \
        --beam-size 1 --threads 2 [--compute-type float32|int8] [--batched] FILE...

`--batched` uses faster-whisper's BatchedInferencePipeline (Silero VAD regions merged into
windows, its default batch of 8): the peer of the server's recording transcription
(`examples/recording_throughput.rs`).
"""
import argparse
import json
import time

from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.audio import decode_audio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ct2-dir", required=True)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compute-type", default="float32")
    ap.add_argument("--language", default=None)
    ap.add_argument("--batched", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    model = WhisperModel(args.ct2_dir, device="cpu", compute_type=args.compute_type, cpu_threads=args.threads)
    pipeline = BatchedInferencePipeline(model) if args.batched else model
    for path in args.files:
        audio = decode_audio(path)
        started = time.perf_counter()
        segments, _ = pipeline.transcribe(audio, beam_size=args.beam_size, language=args.language)
        text = "".join(s.text for s in segments)
        elapsed = time.perf_counter() - started
        print(json.dumps({"path": path, "text": text.strip(), "seconds": elapsed,
                          "audio_seconds": len(audio) / 16000}), flush=True)


if __name__ == "__main__":
    main()
