"""Where a live server's Whisper time goes, in FLOPs: reads the per-batch debug lines of
`examples/live_load.rs` (RUST_LOG=ddalkkak::inference::asr::transcriber=debug, on stderr), counts
the encoder, cross-attention and decoder work of every batch from the model's dimensions, and
sets the rate achieved against a measured float32 GEMM on this machine (numpy, all cores).

    RUST_LOG=ddalkkak::inference::asr::transcriber=debug \
        target/release/examples/live_load --streams 16 --seconds 60 2> run.log
    models/.venv/bin/python benches/live_flops.py run.log --streams 16 --seconds 60 \
        --config models/whisper-tiny.en/whisper_config.json

The counts are a lower bound: decoder steps spent on sequences of a batch that already ended, and
the prompt beyond three tokens, are not counted; the mel front end and the sampling are left out.
"""

import argparse
import json
import re
import time

LINE = re.compile(r"batch=(\d+) decodes=(\d+) frames=(\d+) encode_ms=(\d+) decode_ms=(\d+) tokens=(\d+)")
PROMPT = 3  # <|startoftranscript|> (+ language, task) <|notimestamps|>: tokens decoded before the text


def flops(dims, batch, decodes, frames, tokens):
    d, v, enc, dec = dims["d"], dims["vocab"], dims["enc_layers"], dims["dec_layers"]
    t = frames // 2  # encoder positions after the stride-2 convolution
    conv = 2 * frames * 3 * dims["n_mels"] * d + 2 * t * 3 * d * d
    encoder = batch * (conv + enc * (24 * t * d * d + 4 * t * t * d))
    cross = batch * dec * 4 * t * d * d  # keys and values of every decoder layer
    steps = tokens + decodes * PROMPT
    # Per token: self-attention and MLP projections (28 d^2 per layer), attention over the
    # cross keys (4 T d) and over about half the tokens so far, and the vocabulary projection.
    mean_len = PROMPT + (tokens / max(decodes, 1)) / 2
    decoder = steps * (dec * (28 * d * d + 4 * t * d + 4 * mean_len * d) + 2 * d * v)
    return encoder, cross, decoder


def gemm_gflops(seconds=3.0):
    import numpy as np

    a = np.random.rand(1536, 384).astype(np.float32)
    b = np.random.rand(384, 1536).astype(np.float32)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return n * 2 * 1536 * 384 * 1536 / (time.perf_counter() - start) / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("log")
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--config", default="models/whisper-tiny.en/whisper_config.json")
    args = p.parse_args()
    dims = json.load(open(args.config))["dims"]
    total = dict(batches=0, utterances=0, tokens=0, enc=0.0, cross=0.0, dec=0.0, enc_ms=0, dec_ms=0)
    for line in open(args.log, errors="replace"):
        m = LINE.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if not m:
            continue
        batch, decodes, frames, enc_ms, dec_ms, tokens = map(int, m.groups())
        e, c, d = flops(dims, batch, decodes, frames, tokens)
        total["batches"] += 1
        total["utterances"] += batch
        total["tokens"] += tokens
        total["enc"] += e
        total["cross"] += c
        total["dec"] += d
        total["enc_ms"] += enc_ms
        total["dec_ms"] += dec_ms
    stream_seconds = args.streams * args.seconds
    gemm = gemm_gflops()
    enc_g = (total["enc"] + total["cross"]) / 1e9
    dec_g = total["dec"] / 1e9
    print(f"batches {total['batches']}, utterances {total['utterances']}, tokens {total['tokens']}, "
          f"{stream_seconds:.0f} stream-seconds")
    print("| part | GFLOP per stream-second | model time s per stream-second | achieved GFLOP/s |")
    print("|---|---|---|---|")
    for name, g, ms in (("encoder + cross K/V", enc_g, total["enc_ms"]), ("decoder", dec_g, total["dec_ms"])):
        print(f"| {name} | {g / stream_seconds:.3f} | {ms / 1000 / stream_seconds:.4f} | {g / max(ms / 1000, 1e-9):.1f} |")
    both = enc_g + dec_g
    print(f"measured float32 GEMM (numpy, 1536x384x1536): {gemm:.1f} GFLOP/s")
    print(f"streams this work would fill at that GEMM rate: {gemm / (both / stream_seconds):.0f}")


if __name__ == "__main__":
    main()
