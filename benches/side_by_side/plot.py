"""results.json -> p95 (and p50) final latency vs concurrent streams, both servers, as a PNG.

    python plot.py results.json p95_final_latency.png
"""
from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"ours": "DdalKkak (ONNX Runtime)", "whisper_live": "WhisperLive (faster-whisper)"}
COLORS = {"ours": "tab:blue", "whisper_live": "tab:orange"}


def render(results: dict, path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for server in ("ours", "whisper_live"):
        rows = sorted((r for r in results["live"] if r["server"] == server), key=lambda r: r["streams"])
        silent = [r["streams"] for r in rows if r["final_p95_s"] is None]
        if silent:  # a run without a single final has no latency: shown as an x on the axis
            ax.plot(silent, [0] * len(silent), "x", color=COLORS[server], markersize=9, clip_on=False,
                    label=f"{LABELS[server]}: no final")
        rows = [r for r in rows if r["final_p95_s"] is not None]
        if not rows:
            continue
        ns = [r["streams"] for r in rows]
        p95 = [r["final_p95_s"] for r in rows]
        ax.plot(ns, p95, "o-", color=COLORS[server], label=f"{LABELS[server]} p95")
        ax.plot(ns, [r["final_p50_s"] for r in rows], "s--", color=COLORS[server], alpha=0.5,
                label=f"{LABELS[server]} p50")
        for n, v in zip(ns, p95):
            ax.annotate(f"{v:.2f}", (n, v), textcoords="offset points", xytext=(0, 6), ha="center",
                        fontsize=8, color=COLORS[server])
    s = results["settings"]
    ax.set_xscale("log", base=2)
    ns = sorted({r["streams"] for r in results["live"]})
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("concurrent real-time streams")
    ax.set_ylabel("final latency (s)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"p95 final latency vs concurrent streams ({s['model']}, "
                 f"{results['machine']['cores']} cores)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    render(json.load(open(sys.argv[1])), sys.argv[2])
