#!/usr/bin/env python3
"""Side-by-side benchmark: DdalKkak against faster-whisper (file transcription) and WhisperLive
(live streams) on the same CTranslate2 weights, the same real recording and one latency
definition (see live_client.py). Run it through run.sh, which builds and installs everything.

Writes results.json, table.md and p95_final_latency.png into --out and prints the table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from faster_whisper.audio import decode_audio

import live_client
import plot
import table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SERVERS = ("ours", "whisper_live")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ddalkkak", required=True, help="the release binary")
    ap.add_argument("--models-dir", default=os.environ.get("DDALKKAK_MODELS_DIR", str(REPO / "models")))
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--audio", help="a recording with a reference transcript (.stm or .txt beside it); "
                    "default: <models-dir>/testdata/pyannote_sample.wav")
    ap.add_argument("--streams", default="1,2,4,8", help="concurrent live streams, comma-separated")
    ap.add_argument("--loops", type=int, default=2, help="times each live stream plays the recording")
    ap.add_argument("--seconds", type=float, help="cut each live stream's recording part to this many "
                    "seconds (development runs); the live WER is then not computed")
    ap.add_argument("--stagger", type=float, default=5.0,
                    help="stream i of N starts with i/N * this many seconds of silence, so utterances "
                    "do not end at the same instant on every stream")
    ap.add_argument("--tail", type=float, default=4.0, help="seconds of silence after the speech")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="inference threads, both sides")
    ap.add_argument("--beam-size", type=int, default=5, help="file transcription, both sides")
    ap.add_argument("--precision", choices=["int8", "fp32"], default="int8",
                    help="ours (file and live) and faster-whisper (file); WhisperLive is int8 on CPU")
    ap.add_argument("--whisper-live-greedy", action="store_true",
                    help="run WhisperLive greedy without temperature fallback (like our live path) "
                    "instead of as shipped (beam 5, fallback)")
    ap.add_argument("--file-repeats", type=int, default=3)
    ap.add_argument("--skip-file", action="store_true")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="live servers to run, comma-separated (ours alone for quick development runs)")
    ap.add_argument("--ours-arg", action="append", default=[], metavar="FLAG",
                    help="an extra `ddalkkak serve` flag, e.g. --ours-arg=--split-pause-ms=0 (repeatable)")
    ap.add_argument("--out", required=True)
    return ap.parse_args()


# ----------------------------------------------------------------------------- measures

def normalize(text: str) -> list[str]:
    """The normaliser of eval/src/wer.rs: lower case, punctuation out, apostrophes kept."""
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower())
    return [w.strip("'") for w in cleaned.split() if w.strip("'")]


def wer(reference: str, hypothesis: str) -> float:
    r, h = normalize(reference), normalize(hypothesis)
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r):
        row = [i + 1] * (len(h) + 1)
        for j, hw in enumerate(h):
            row[j + 1] = min(prev[j] + (rw != hw), prev[j + 1] + 1, row[j] + 1)
        prev = row
    return prev[len(h)] / max(len(r), 1)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[round((len(values) - 1) * p)]


def reference_text(audio: Path) -> str:
    stm, txt = audio.with_suffix(".stm"), audio.with_suffix(".txt")
    if stm.exists():
        return " ".join(line.split(" ", 5)[5] for line in stm.read_text().splitlines() if line.count(" ") >= 5)
    if txt.exists():
        return txt.read_text()
    sys.exit(f"no reference transcript for {audio} (expected {stm.name} or {txt.name})")


class ProcessMeter:
    """CPU time and peak RSS of one process, from /proc (Linux)."""

    def __init__(self, pid: int):
        self.pid, self.peak_rss, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.peak_rss = max(self.peak_rss, self.rss())
            except OSError:
                return

    def __enter__(self) -> "ProcessMeter":
        self.cpu0, self.wall0 = self.cpu_seconds(), time.monotonic()
        self.peak_rss = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_pct = 100 * (self.cpu_seconds() - self.cpu0) / (time.monotonic() - self.wall0)
        self.peak_rss = max(self.peak_rss, self.rss())


# ----------------------------------------------------------------------------- file transcription

def file_transcription(args, audio: Path, reference: str, venv_python: str) -> dict:
    int8 = args.precision == "int8"
    ours_cmd = [args.ddalkkak, "transcribe", str(audio), "--format", "json", "--model", args.model,
                "--models-dir", args.models_dir, "--beam-size", str(args.beam_size),
                "--threads", str(args.threads)] + (["--int8"] if int8 else [])
    fw_cmd = [venv_python, str(REPO / "models" / "fw_transcribe.py"),
              "--ct2-dir", str(Path(args.models_dir) / f"whisper-{args.model}" / "ct2"),
              "--beam-size", str(args.beam_size), "--threads", str(args.threads),
              "--compute-type", "int8" if int8 else "float32", str(audio)]
    runs: dict[str, list[tuple[float, float, str]]] = {"ours": [], "faster_whisper": []}
    for _ in range(args.file_repeats):
        for name, cmd in (("ours", ours_cmd), ("faster_whisper", fw_cmd)):
            started = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.monotonic() - started
            if done.returncode != 0:
                sys.exit(f"{name} file transcription failed ({done.returncode}):\n{done.stderr[-2000:]}")
            if name == "ours":
                seconds = float(re.search(r"of audio in ([\d.]+) s", done.stderr).group(1))
                text = "".join(s["text"] for s in json.loads(done.stdout)["segments"])
            else:
                out = json.loads(done.stdout.strip().splitlines()[-1])
                seconds, text = out["seconds"], out["text"]
            runs[name].append((wall, seconds, text))
    audio_s = len(decode_audio(str(audio))) / 16000
    result = {"audio": str(audio), "audio_seconds": audio_s, "repeats": args.file_repeats}
    for name, rs in runs.items():
        transcribe_s = statistics.median(r[1] for r in rs)
        result[name] = {
            "wall_s": statistics.median(r[0] for r in rs),
            "transcribe_s": transcribe_s,
            "rtf": transcribe_s / audio_s,
            "wer": wer(reference, rs[0][2]),
            "text": rs[0][2].strip(),
        }
    return result


# ----------------------------------------------------------------------------- live servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process for one N: started fresh, warmed up, measured, stopped."""

    def __init__(self, kind: str, args, venv_python: str, max_streams: int, logs: Path):
        self.kind, self.port = kind, free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix=f"bench-{kind}-")
        log = open(logs / f"{kind}.log", "a")
        if kind == "ours":
            cmd = [args.ddalkkak, "serve", "--listen", f"127.0.0.1:{self.port}",
                   "--metrics-listen", f"127.0.0.1:{free_port()}", "--data-dir", self.tmp.name,
                   "--models-dir", args.models_dir, "--asr-model", args.model,
                   "--asr-precision", args.precision,
                   # One API key streams every session: every quota must let N + the warm-up in.
                   *(flag for name in ("live-sessions", "sessions-per-tenant", "sessions-per-key")
                     for flag in (f"--max-{name}", str(max(max_streams, 1) + 1))),
                   # WhisperLive has no summary job: ours would spend the measured cores on it.
                   "--llm", "none", *args.ours_arg]
            env = dict(os.environ, DDALKKAK_LOG=os.environ.get("DDALKKAK_LOG", "warn"))
            self.url = f"ws://127.0.0.1:{self.port}/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true"
        else:
            cmd = [venv_python, str(HERE / "whisper_live_server.py"), "--port", str(self.port),
                   "--model-dir", self.model_dir(args), "--threads", str(args.threads),
                   "--max-clients", str(max(max_streams, 1) + 1)]
            cmd += ["--greedy"] if args.whisper_live_greedy else []
            env = dict(os.environ)
            self.url = f"ws://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp.name)
        self.api_key = self._wait_ready()
        self.model = self.model_dir(args)

    @staticmethod
    def model_dir(args) -> str:
        return str(Path(args.models_dir).resolve() / f"whisper-{args.model}" / "ct2")

    def _wait_ready(self, timeout: float = 180) -> str | None:
        deadline = time.monotonic() + timeout
        key_file = Path(self.tmp.name) / "secrets" / "owner-api-key"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{self.kind} server exited with {self.proc.returncode}; see its log")
            try:
                if self.kind == "ours":
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                        if r.status == 200 and key_file.exists():
                            return key_file.read_text().strip()
                else:
                    socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                    return None
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"{self.kind} server not ready after {timeout} s")

    def stream(self, pcm: np.ndarray):
        if self.kind == "ours":
            return live_client.ours_stream(self.url, self.api_key, pcm)
        return live_client.whisper_live_stream(self.url, pcm, self.model)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()


def stream_audio(pcm: np.ndarray, index: int, n: int, args) -> np.ndarray:
    lead = np.zeros(int(args.stagger * index / n * 10) * live_client.FRAME_SAMPLES, dtype=np.int16)
    tail = np.zeros(int(args.tail * 16000), dtype=np.int16)
    return np.concatenate([lead] + [pcm] * args.loops + [tail])


async def run_streams(server: Server, streams: list[np.ndarray]) -> list[live_client.StreamResult]:
    return await asyncio.gather(*(server.stream(s) for s in streams))


def live_run(kind: str, n: int, pcm: np.ndarray, reference: str | None, args, venv_python: str,
             logs: Path) -> dict:
    server = Server(kind, args, venv_python, n, logs)
    try:
        # Warm-up: one short stream (6 s of speech), so lazy initialisation is not measured.
        warm = pcm[6 * 16000:12 * 16000] if len(pcm) >= 12 * 16000 else pcm
        asyncio.run(run_streams(server, [np.concatenate([warm, np.zeros(16000, dtype=np.int16)])]))
        streams = [stream_audio(pcm, i, n, args) for i in range(n)]
        with ProcessMeter(server.proc.pid) as meter:
            results = asyncio.run(run_streams(server, streams))
    finally:
        server.stop()
    latencies = [lat for r in results for _, lat, _ in r.finals]
    gaps = [g for r in results for g in r.partial_gaps]
    errors = [e for r in results for e in r.errors]
    wers = [wer(reference, r.text()) for r in results] if reference is not None else []
    return {
        "server": kind, "streams": n, "finals": len(latencies),
        "final_p50_s": percentile(latencies, 0.5), "final_p95_s": percentile(latencies, 0.95),
        "partial_gap_p50_s": percentile(gaps, 0.5), "partial_gap_p95_s": percentile(gaps, 0.95),
        "cpu_pct": meter.cpu_pct, "peak_rss_mib": meter.peak_rss / 2**20,
        "wer": statistics.mean(wers) if wers else None,
        "errors": errors[:20], "error_count": len(errors),
        "latencies_s": [round(v, 4) for v in latencies],
        # What each stream got, to read when a figure looks odd: [end s, latency s, text].
        "stream_finals": [[[round(e, 2), round(lat, 3), t] for e, lat, t in r.finals] for r in results],
    }


# ----------------------------------------------------------------------------- main

def estimate_seconds(args, audio_s: float, streams: list[int]) -> float:
    live_audio = (args.seconds or audio_s) * args.loops + args.tail
    per_run = 6 + 8 + live_audio + 4  # start + warm-up + stream + close
    servers = len([k for k in args.servers.split(",") if k in SERVERS])
    live = 0 if args.skip_live else sum(per_run + args.stagger * (n - 1) / n for n in streams) * servers
    file = 0 if args.skip_file else args.file_repeats * 2 * (2 + audio_s / 5)
    return live + file


def main() -> None:
    args = parse_args()
    # The servers run in temporary directories: every path handed to them must be absolute.
    args.models_dir = str(Path(args.models_dir).resolve())
    args.ddalkkak = str(Path(args.ddalkkak).resolve())
    venv_python = sys.executable
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old_log in out.glob("*.log"):  # server logs are appended to during a run
        old_log.unlink()
    audio = Path(args.audio or Path(args.models_dir) / "testdata" / "pyannote_sample.wav")
    reference = reference_text(audio)
    samples = decode_audio(str(audio))
    audio_s = len(samples) / 16000
    streams = [int(n) for n in args.streams.split(",") if n.strip()]
    load = os.getloadavg()[0]
    print(f"[bench] {audio.name}: {audio_s:.1f} s; streams {streams}; loops {args.loops}; "
          f"{args.threads} threads; load average {load:.2f} on {os.cpu_count()} cores")
    if load > 0.75 * (os.cpu_count() or 1):
        print("[bench] warning: the machine is busy; figures taken now are not comparable", flush=True)
    print(f"[bench] estimated run time: {estimate_seconds(args, audio_s, streams) / 60:.1f} min", flush=True)
    started = time.monotonic()

    results: dict = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("ddalkkak", "out")},
        "machine": {"cores": os.cpu_count(), "load_average_at_start": load,
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }
    try:
        results["commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    if not args.skip_file:
        print("[bench] file transcription: ours vs faster-whisper", flush=True)
        results["file"] = file_transcription(args, audio, reference, venv_python)

    if not args.skip_live:
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        live_reference = None
        if args.seconds:
            pcm = pcm[: int(args.seconds * 16000)]
        else:
            live_reference = " ".join([reference] * args.loops)
        results["live"] = []
        for n in streams:
            for kind in [k for k in args.servers.split(",") if k in SERVERS]:
                print(f"[bench] live: {kind}, {n} stream(s)", flush=True)
                row = live_run(kind, n, pcm, live_reference, args, venv_python, out)
                results["live"].append(row)
                print(f"[bench]   finals {row['finals']}, p50 {row['final_p50_s']}, p95 {row['final_p95_s']}, "
                      f"CPU {row['cpu_pct']:.0f} %, errors {row['error_count']}", flush=True)

    results["elapsed_s"] = time.monotonic() - started
    (out / "results.json").write_text(json.dumps(results, indent=1))
    md = table.render(results)
    (out / "table.md").write_text(md)
    if results.get("live"):
        plot.render(results, out / "p95_final_latency.png")
    print()
    print(md)
    print(f"[bench] {results['elapsed_s'] / 60:.1f} min; wrote {out}/results.json, table.md"
          + (", p95_final_latency.png" if results.get("live") else ""))


if __name__ == "__main__":
    main()
