"""results.json -> the markdown table: each figure for ours and the peer, and ours/peer."""
from __future__ import annotations

import json
import sys


def _num(v, digits=2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ratio(ours, peer) -> str:
    if ours is None or peer is None or peer == 0:
        return "–"
    return f"{ours / peer:.2f}"


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def render(results: dict) -> str:
    s = results["settings"]
    lines = []
    if "file" in results:
        f = results["file"]
        ours, fw = f["ours"], f["faster_whisper"]
        lines += [
            f"### File transcription: ours vs faster-whisper ({s['model']}, {s['precision']}, beam "
            f"{s['beam_size']}, {s['threads']} threads; {f['audio_seconds']:.1f} s of audio, median of "
            f"{f['repeats']})",
            "",
            "| measure | ours | faster-whisper | ours / faster-whisper |",
            "|---|---|---|---|",
            f"| wall time, whole command (s) | {_num(ours['wall_s'])} | {_num(fw['wall_s'])} | "
            f"{_ratio(ours['wall_s'], fw['wall_s'])} |",
            f"| transcription time (s) | {_num(ours['transcribe_s'])} | {_num(fw['transcribe_s'])} | "
            f"{_ratio(ours['transcribe_s'], fw['transcribe_s'])} |",
            f"| RTF (transcription time / audio) | {_num(ours['rtf'], 3)} | {_num(fw['rtf'], 3)} | "
            f"{_ratio(ours['rtf'], fw['rtf'])} |",
            f"| WER vs reference | {_pct(ours['wer'])} | {_pct(fw['wer'])} | {_ratio(ours['wer'], fw['wer'])} |",
            "",
        ]
    if results.get("live"):
        rows = {(r["streams"], r["server"]): r for r in results["live"]}
        ns = sorted({r["streams"] for r in results["live"]})
        lines += [
            f"### Live: ours vs WhisperLive ({s['model']}; ours {s['precision']} greedy, WhisperLive int8 "
            f"{'greedy' if s.get('whisper_live_greedy') else 'beam 5 + temperature fallback'}; "
            f"{s['loops']}× the recording per stream; ratio = ours / WhisperLive, lower is better)",
            "",
            "| streams | final p50 s ours / WL | ratio | final p95 s ours / WL | ratio | partial gap p50 s ours / WL "
            "| CPU % ours / WL | ratio | peak RSS MiB ours / WL | ratio | finals WER ours / WL | finals ours / WL "
            "| errors ours / WL |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n in ns:
            o, w = rows.get((n, "ours")), rows.get((n, "whisper_live"))
            if o is None:
                continue
            # A run of ours alone (`--servers ours`) leaves WhisperLive's cells empty.
            w = w or {k: None for k in o}
            lines.append(
                f"| {n} | {_num(o['final_p50_s'])} / {_num(w['final_p50_s'])} | "
                f"{_ratio(o['final_p50_s'], w['final_p50_s'])} | "
                f"{_num(o['final_p95_s'])} / {_num(w['final_p95_s'])} | "
                f"{_ratio(o['final_p95_s'], w['final_p95_s'])} | "
                f"{_num(o['partial_gap_p50_s'])} / {_num(w['partial_gap_p50_s'])} | "
                f"{_num(o['cpu_pct'], 0)} / {_num(w['cpu_pct'], 0)} | {_ratio(o['cpu_pct'], w['cpu_pct'])} | "
                f"{_num(o['peak_rss_mib'], 0)} / {_num(w['peak_rss_mib'], 0)} | "
                f"{_ratio(o['peak_rss_mib'], w['peak_rss_mib'])} | "
                f"{_pct(o['wer'])} / {_pct(w['wer'])} | {o['finals']} / {_num(w['finals'], 0)} | "
                f"{o['error_count']} / {_num(w['error_count'], 0)} |"
            )
        lines.append("")
    m = results.get("machine", {})
    lines.append(f"{m.get('cores')} cores, load average {m.get('load_average_at_start', 0):.2f} at the start, "
                 f"commit {results.get('commit', '?')}, {m.get('date', '')}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(json.load(open(sys.argv[1]))), end="")
