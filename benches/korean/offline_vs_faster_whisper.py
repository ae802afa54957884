#!/usr/bin/env python3
"""Korean CER offline: ours (`ddalkkak transcribe`) against faster-whisper on the same CTranslate2
base weights, same settings (greedy, int8 or with `--fp32` float32, language ko, 30 s windows conditioned on the previous
one), over a TSV set (`path`/`file` and `text` columns, paths relative to the TSV). CER ignores
spaces, punctuation and case, as `ddalkkak_eval::wer::cer` does.

    models/.venv-verify/bin/python benches/korean/offline_vs_faster_whisper.py \\
        --ddalkkak target/release/ddalkkak ../shared/dev-audio/korean/manifest.tsv

Needs the verification venv (`models/fetch.sh --verify`, or
`python3 -m venv models/.venv-verify && models/.venv-verify/bin/pip install -r models/requirements-verify.txt`).
"""
import argparse
import csv
import os
import subprocess

from faster_whisper import WhisperModel


def chars(text):
    return [c for c in text.lower() if c.isalnum()]


def edits(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref):
        row = [i + 1] + [0] * len(hyp)
        for j, h in enumerate(hyp):
            row[j + 1] = min(prev[j] + (r != h), prev[j + 1] + 1, row[j] + 1)
        prev = row
    return prev[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ddalkkak", required=True, help="the ddalkkak binary")
    ap.add_argument("--models-dir", default="models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fp32", action="store_true", help="float32 weights on both sides (default: int8)")
    ap.add_argument("set")
    args = ap.parse_args()
    with open(args.set, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if (r.get("text") or "").strip()]
    folder = os.path.dirname(args.set)
    fw = WhisperModel(os.path.join(args.models_dir, "whisper-base/ct2"), device="cpu",
                      compute_type="float32" if args.fp32 else "int8", cpu_threads=args.threads)
    totals = {"ours": 0, "faster-whisper": 0}
    n = 0
    print("clip\tours\tfaster-whisper")
    for r in rows:
        path = os.path.join(folder, r.get("path") or r["file"])
        command = [args.ddalkkak, "transcribe", "--model", "base", "--language", "ko", "--beam-size", "1",
                   "--threads", str(args.threads), "--models-dir", args.models_dir, path]
        if not args.fp32:
            command.append("--int8")
        ours = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        segments, _ = fw.transcribe(path, language="ko", beam_size=1)
        theirs = " ".join(s.text for s in segments)
        ref = chars(r["text"])
        e_ours, e_fw = edits(ref, chars(ours)), edits(ref, chars(theirs))
        totals["ours"] += e_ours
        totals["faster-whisper"] += e_fw
        n += len(ref)
        print(f"{os.path.basename(path)}\t{100 * e_ours / len(ref):.1f} %\t{100 * e_fw / len(ref):.1f} %")
    print(f"all {len(rows)} clips\t{100 * totals['ours'] / n:.1f} %\t{100 * totals['faster-whisper'] / n:.1f} %")


if __name__ == "__main__":
    main()
