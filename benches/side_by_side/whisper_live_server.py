#!/usr/bin/env python3
"""Starts WhisperLive's TranscriptionServer (the PyPI package, unchanged) the way its own
run_server.py does, but bound to 127.0.0.1: faster-whisper backend, one shared model loaded from
a local CTranslate2 directory (`single_model`, its default for a custom model), OpenMP threads
from --threads. On CPU WhisperLive always runs compute_type int8.

    python whisper_live_server.py --port 9090 --model-dir models/whisper-tiny.en/ct2 --threads 2
"""
import argparse
import logging
import os
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-clients", type=int, default=64)
    ap.add_argument("--greedy", action="store_true",
                    help="decode greedily without temperature fallback, as our live path does, instead "
                    "of WhisperLive's beam 5 with fallback (its backend passes neither, so the defaults "
                    "of its transcriber are replaced)")
    args = ap.parse_args()
    # CTranslate2 reads it when the model is created, so it must be set before that.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_shim"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from whisper_live.server import TranscriptionServer

    if args.greedy:
        import functools

        from whisper_live.transcriber.transcriber_faster_whisper import WhisperModel

        WhisperModel.transcribe = functools.partialmethod(WhisperModel.transcribe, beam_size=1, temperature=0.0)

    TranscriptionServer().run(
        "127.0.0.1",
        port=args.port,
        backend="faster_whisper",
        faster_whisper_custom_model_path=args.model_dir,
        single_model=True,
        max_clients=args.max_clients,
        max_connection_time=3600,
    )


if __name__ == "__main__":
    main()
