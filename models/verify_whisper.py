#!/usr/bin/env python3
"""Check the converted Whisper ONNX graphs against CTranslate2 / faster-whisper (same weights).

Runs in the verification venv (models/.venv-verify: faster-whisper + onnxruntime), see README.md.

For every clip:
  * log-mel with faster-whisper's FeatureExtractor (30 s windows, 3000 frames, like faster-whisper);
  * encoder: ours (onnxruntime) vs ctranslate2 `model.encode` -> max / mean abs diff (first window);
  * tokens: our greedy decoder (KV cache) vs ctranslate2 `generate(beam_size=1)` on the same
    features and prompt -> exact-match / first divergence;
  * text: ours vs `WhisperModel(ct2_dir, compute_type=float32).transcribe(beam_size=1,
    without_timestamps=True, temperature=0)`, WER of both against the reference transcript;
  * wall time of both (single process, intra-op threads = --threads).

Usage:
  verify_whisper.py --model-dir models/whisper-tiny.en [--audio a.wav --ref "text" ...]
                    [--dev-audio DIR] [--variant fp32|int8] [--threads 1] [--json out.json]
With no --audio/--dev-audio it uses the pyannote sample that fetch.sh extracted to
models/testdata/ (a registry-fetched clip) and fails (exit 1) if our tokens differ from ctranslate2's.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
N_FRAMES = 3000


# --------------------------------------------------------------------------------------
# ONNX runtime implementation of Whisper greedy decoding (the reference for the Rust engine)
# --------------------------------------------------------------------------------------


class OnnxWhisper:
    def __init__(self, model_dir: Path, variant: str = "fp32", threads: int = 1):
        self.dir = model_dir
        self.cfg = json.loads((model_dir / "whisper_config.json").read_text())
        files = self.cfg["graphs"][variant]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        prov = ["CPUExecutionProvider"]
        self.enc = ort.InferenceSession(str(model_dir / files["encoder"]), so, providers=prov)
        self.ckv = ort.InferenceSession(str(model_dir / files["cross_kv"]), so, providers=prov)
        self.dec = ort.InferenceSession(str(model_dir / files["decoder"]), so, providers=prov)
        self.mel = (ort.InferenceSession(str(model_dir / files["mel"]), so, providers=prov)
                    if "mel" in files else None)
        self.dec_out = [o.name for o in self.dec.get_outputs()]
        self.ckv_out = [o.name for o in self.ckv.get_outputs()]
        d = self.cfg["dims"]
        self.L, self.H, self.dh = d["dec_layers"], d["dec_heads"], d["head_dim"]
        self.n_text_ctx = d["n_text_ctx"]
        t = self.cfg["tokens"]
        self.tok = t
        # same list faster-whisper builds for suppress_tokens=[-1]
        self.suppress = np.array(self.cfg["suppress_tokens"], np.int64)
        self.suppress_begin = np.array(self.cfg["suppress_ids_begin"], np.int64)
        self.timings = {"mel": 0.0, "encoder": 0.0, "cross_kv": 0.0, "decoder": 0.0, "decoder_steps": 0}

    def prompt(self, language: str | None, previous: list[int] | None = None) -> list[int]:
        p: list[int] = []
        if previous:
            p += [self.tok["sot_prev"]] + previous[-(self.n_text_ctx // 2 - 1):]
        p.append(self.tok["sot"])
        if self.cfg["multilingual"]:
            p += [self.tok["languages"][language or "en"], self.tok["transcribe"]]
        p.append(self.tok["no_timestamps"])
        return p

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        m = self.mel.run(None, {"audio": audio[None].astype(np.float32)})[0][0]
        self.timings["mel"] += time.perf_counter() - t0
        return m

    def encode(self, mel: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        hs = self.enc.run(None, {"mel": mel[None].astype(np.float32)})[0]
        self.timings["encoder"] += time.perf_counter() - t0
        return hs

    def greedy(self, hs: np.ndarray, prompt: list[int], max_length: int = 448):
        """Returns (generated tokens without prompt/eot, no_speech_prob)."""
        t0 = time.perf_counter()
        cross = dict(zip(self.ckv_out, self.ckv.run(None, {"encoder_hidden_states": hs})))
        t1 = time.perf_counter()
        self.timings["cross_kv"] += t1 - t0
        feeds = dict(cross)
        for i in range(self.L):
            feeds[f"past_key.{i}"] = np.zeros((1, self.H, 0, self.dh), np.float32)
            feeds[f"past_value.{i}"] = np.zeros((1, self.H, 0, self.dh), np.float32)
        ids = np.array([prompt], np.int64)
        out: list[int] = []
        no_speech_prob = None
        while True:
            feeds["input_ids"] = ids
            r = dict(zip(self.dec_out, self.dec.run(None, feeds)))
            self.timings["decoder_steps"] += 1
            if no_speech_prob is None and self.tok.get("no_speech") is not None:
                sot_idx = prompt.index(self.tok["sot"])
                lg = r["logits"][0, sot_idx].astype(np.float64)
                e = np.exp(lg - lg.max())
                no_speech_prob = float(e[self.tok["no_speech"]] / e.sum())
            logits = r["logits"][0, -1].copy()
            logits[self.suppress] = -np.inf
            if not out:  # suppress_blank
                logits[self.suppress_begin] = -np.inf
            nxt = int(np.argmax(logits))
            # at most n_text_ctx/2 new tokens, never past the context (CTranslate2's rule)
            limit = max(1, min(max_length // 2, max_length - len(prompt)))
            if nxt == self.tok["eot"] or len(out) + 1 >= limit:
                if nxt != self.tok["eot"]:
                    out.append(nxt)
                break
            out.append(nxt)
            for i in range(self.L):
                feeds[f"past_key.{i}"] = r[f"present_key.{i}"]
                feeds[f"past_value.{i}"] = r[f"present_value.{i}"]
            ids = np.array([[nxt]], np.int64)
        self.timings["decoder"] += time.perf_counter() - t1
        return out, no_speech_prob


# --------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------


def normalize(text: str) -> list[str]:
    t = text.lower().replace("’", "'")
    t = re.sub(r"[^\w' ]+|_", " ", t)  # keep letters of any script (Korean WER is word-level too)
    t = re.sub(r"(^| )'+|'+( |$)", " ", t)
    return t.split()


def edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


# --------------------------------------------------------------------------------------
# clip sources
# --------------------------------------------------------------------------------------


def stm_text(path: Path) -> str:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            rows.append((float(parts[3]), parts[5]))
    return " ".join(t for _, t in sorted(rows))


def dev_audio_clips(root: Path) -> list[tuple[Path, str, str]]:
    """English clips with a usable reference from dev-audio/manifest.tsv (developer-only data)."""
    clips = []
    skip = {"picovoice_leopard/diarization_test.wav",  # duplicate of picovoice_falcon/test.wav
            "faster_whisper/stereo_diarization.wav"}  # one speaker per channel, overlapping once mixed
    with open(root / "manifest.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["lang"] != "en" or row["has_text"] != "True" or row["path"] in skip:
                continue
            text = row["text"]
            if text.endswith(".txt") and (root / text).exists():
                text = (root / text).read_text()
            elif text.endswith(".txt"):
                stm = root / row["path"].replace(".wav", ".stm")
                if not stm.exists():
                    continue
                text = stm_text(stm)
            text = re.sub(r"\bspk\d+:\s*", " ", text).replace("||", " ")
            clips.append((root / row["path"], text, row["path"]))
    return clips


# --------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=HERE / "whisper-tiny.en")
    ap.add_argument("--ct2-dir", type=Path, help="CTranslate2 dir (default: <model-dir>/ct2)")
    ap.add_argument("--audio", type=Path, action="append", default=[])
    ap.add_argument("--ref", action="append", default=[], help="reference transcript per --audio")
    ap.add_argument("--dev-audio", type=Path, help="developer clip set with manifest.tsv")
    ap.add_argument("--variant", default="fp32", choices=["fp32", "int8"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--language", default="en")
    ap.add_argument("--ours-frames", choices=["full", "content"], default="full",
                    help="full: pad every window to 3000 frames like faster-whisper; content: feed only the "
                         "frames that hold audio (experiment: shorter encoder input, positional slice)")
    ap.add_argument("--ours-mel", choices=["onnx", "fw"], default="onnx",
                    help="log-mel for our pipeline: our mel.onnx (default) or faster-whisper's FeatureExtractor")
    ap.add_argument("--no-reference-timing-int8", action="store_true")
    ap.add_argument("--json", type=Path, help="write per-clip results here")
    ap.add_argument("--bench", type=int, default=0, metavar="N",
                    help="only time one 30 s window N times: encoder (+cross_kv) ours vs ctranslate2 encode, "
                         "and one decoder step at past_len 100 (medians)")
    ap.add_argument("--bench-no-ct2", action="store_true",
                    help="with --bench: time our graphs only (CTranslate2 not loaded)")
    args = ap.parse_args(argv)

    from faster_whisper import WhisperModel, decode_audio
    from tokenizers import Tokenizer

    ct2_dir = args.ct2_dir or args.model_dir / "ct2"
    clips: list[tuple[Path, str, str]] = []
    for i, a in enumerate(args.audio):
        ref = args.ref[i] if i < len(args.ref) else ""
        if not ref and a.with_suffix(".stm").exists():
            ref = stm_text(a.with_suffix(".stm"))
        clips.append((a, ref, a.name))
    if args.dev_audio:
        clips += dev_audio_clips(args.dev_audio)
    strict = False
    if not clips:
        sample = HERE / "testdata" / "pyannote_sample.wav"
        if not sample.exists():
            raise SystemExit(f"{sample} missing: run models/fetch.sh first")
        clips.append((sample, stm_text(sample.with_suffix(".stm")), "pyannote_sample.wav (pyannote-audio 4.0.7)"))
        strict = True

    ours = OnnxWhisper(args.model_dir, args.variant, args.threads)
    if args.bench and args.bench_no_ct2:
        # timing of our graphs alone: no CTranslate2 copy of the weights in memory (large-v3)
        from faster_whisper.feature_extractor import FeatureExtractor
        return bench(args, ours, FeatureExtractor(feature_size=ours.cfg["dims"]["n_mels"]), clips[0][0], decode_audio)
    tok = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    eot = ours.tok["eot"]
    ref_model = WhisperModel(str(ct2_dir), device="cpu", compute_type="float32", cpu_threads=args.threads)
    ref_int8 = None if args.no_reference_timing_int8 else WhisperModel(
        str(ct2_dir), device="cpu", compute_type="int8", cpu_threads=args.threads)
    fe = ref_model.feature_extractor
    lang = args.language if ours.cfg["multilingual"] else None
    fw_kwargs = dict(beam_size=1, without_timestamps=True, temperature=0, language=lang,
                     condition_on_previous_text=True, vad_filter=False)
    # the exact suppress list faster-whisper passes to ctranslate2
    from faster_whisper.transcribe import get_suppressed_tokens
    fw_suppress = list(get_suppressed_tokens(_fw_tokenizer(ref_model, lang), [-1]))
    if sorted(fw_suppress) != sorted(ours.suppress.tolist()):
        print(f"WARNING: suppress list differs from faster-whisper's ({len(fw_suppress)} vs {len(ours.suppress)})")

    if args.bench:
        return bench(args, ours, fe, clips[0][0], decode_audio)

    # warm-up (first-run allocations) so timings are steady-state
    warm = np.zeros(16000, np.float32)
    if ours.mel is not None:
        ours.log_mel(warm)
    ours.greedy(ours.encode(_pad(fe(warm))), ours.prompt(lang))
    list(ref_model.transcribe(warm, **fw_kwargs)[0])
    if ref_int8:
        list(ref_int8.transcribe(warm, **fw_kwargs)[0])
    for k in ours.timings:
        ours.timings[k] = 0

    results = []
    tot = {"dur": 0.0, "ours_s": 0.0, "fw_s": 0.0, "fw8_s": 0.0, "err_ours": 0, "err_fw": 0, "err_ct2g": 0, "nref": 0,
           "tokens_equal_windows": 0, "windows": 0, "enc_max": 0.0}
    for path, ref, label in clips:
        audio = decode_audio(str(path), sampling_rate=16000)
        dur = len(audio) / 16000
        fw_feats = fe(audio)
        # ---- ours: same window loop as faster-whisper without timestamps
        t0 = time.perf_counter()
        onnx_feats = ours.log_mel(audio) if ours.mel is not None else None
        mel_diff = None if onnx_feats is None else float(np.abs(onnx_feats - fw_feats).max())
        feats = onnx_feats if (args.ours_mel == "onnx" and onnx_feats is not None) else fw_feats
        content = feats.shape[-1] - 1
        seek, all_tokens, texts, first_hs = 0, [], [], None
        windows = []
        while seek < content:
            # faster-whisper: frames [seek, min(seek+3000, content)), zero-padded to 3000
            seg = _pad(feats[:, seek:min(seek + N_FRAMES, content)])
            if args.ours_frames == "content":
                n = min(N_FRAMES, content - seek)
                n += n % 2
                hs = ours.encode(seg[:, :n])
            else:
                hs = ours.encode(seg)
            if first_hs is None:
                first_hs = hs
            prompt = ours.prompt(lang, all_tokens)
            toks, nsp = ours.greedy(hs, prompt)
            windows.append((seg, prompt, toks))
            all_tokens += toks
            texts.append(tok.decode([t for t in toks if t < eot]))
            seek += N_FRAMES
        ours_s = time.perf_counter() - t0
        ours_text = "".join(texts).strip()
        # ---- reference transcribe (timed)
        t0 = time.perf_counter()
        segs, _ = ref_model.transcribe(audio, **fw_kwargs)
        fw_text = "".join(s.text for s in segs).strip()
        fw_s = time.perf_counter() - t0
        fw8_s = None
        if ref_int8:
            t0 = time.perf_counter()
            list(ref_int8.transcribe(audio, **fw_kwargs)[0])
            fw8_s = time.perf_counter() - t0
        # ---- numerical checks against ctranslate2 on identical features/prompts
        import ctranslate2
        ct_hs = ref_model.model.encode(ctranslate2.StorageView.from_array(windows[0][0][None].astype(np.float32)))
        # (windows hold the features our pipeline used; with --ours-mel onnx they differ from
        #  faster-whisper's by mel_max_abs_diff, which is part of the end-to-end comparison)
        ct_hs = np.array(ct_hs)
        if ct_hs.shape == first_hs.shape:
            enc_diff = float(np.abs(ct_hs - first_hs).max())
            enc_mean = float(np.abs(ct_hs - first_hs).mean())
        else:  # --ours-frames content: a shorter encoder input is not comparable
            enc_diff = enc_mean = float("nan")
        tok_equal, first_div = 0, []
        for seg, prompt, toks in windows:
            ct_enc = ref_model.model.encode(ctranslate2.StorageView.from_array(seg[None].astype(np.float32)))
            g = ref_model.model.generate(ct_enc, [prompt], beam_size=1, max_length=448, suppress_blank=True,
                                         suppress_tokens=fw_suppress, return_scores=False)[0]
            ct_toks = [t for t in g.sequences_ids[0]]
            if ct_toks == toks:
                tok_equal += 1
                first_div.append(None)
            else:
                n = next((i for i, (a, b) in enumerate(zip(ct_toks, toks)) if a != b), min(len(ct_toks), len(toks)))
                first_div.append({"index": n, "ours_len": len(toks), "ct2_len": len(ct_toks)})
        rw = normalize(ref)
        e_ours = edit_distance(rw, normalize(ours_text)) if ref else None
        e_fw = edit_distance(rw, normalize(fw_text)) if ref else None
        r = {"clip": label, "duration_s": round(dur, 3), "windows": len(windows), "mel_max_abs_diff": mel_diff,
             "encoder_max_abs_diff": enc_diff, "encoder_mean_abs_diff": enc_mean,
             "tokens_equal_windows": tok_equal, "first_divergence": first_div,
             "ours_text": ours_text, "faster_whisper_text": fw_text, "same_text": ours_text == fw_text,
             "ref": ref, "ref_words": len(rw), "errors_ours": e_ours, "errors_fw": e_fw,
             "ours_s": round(ours_s, 3), "fw_fp32_s": round(fw_s, 3),
             "fw_int8_s": None if fw8_s is None else round(fw8_s, 3)}
        results.append(r)
        print(f"\n== {label} ({dur:.1f} s, {len(windows)} window(s))")
        print(f"  mel.onnx vs faster-whisper features: max|diff| {mel_diff}")
        print(f"  encoder vs ct2: max|diff| {enc_diff:.2e} mean {enc_mean:.2e}; tokens equal to ct2 greedy: "
              f"{tok_equal}/{len(windows)} {first_div if tok_equal < len(windows) else ''}")
        print(f"  ours: {ours_text!r}")
        if not r["same_text"]:
            print(f"  fw  : {fw_text!r}")
        if ref:
            print(f"  WER ours {e_ours}/{len(rw)}  faster-whisper {e_fw}/{len(rw)}")
        print(f"  time ours {ours_s:.3f}s  fw fp32 {fw_s:.3f}s" + (f"  fw int8 {fw8_s:.3f}s" if fw8_s else ""))
        tot["dur"] += dur
        tot["ours_s"] += ours_s
        tot["fw_s"] += fw_s
        tot["fw8_s"] += fw8_s or 0
        tot["windows"] += len(windows)
        tot["tokens_equal_windows"] += tok_equal
        tot["enc_max"] = max(tot["enc_max"], enc_diff) if enc_diff == enc_diff else tot["enc_max"]
        if mel_diff is not None:
            tot["mel_max"] = max(tot.get("mel_max", 0.0), mel_diff)
        if ref:
            tot["err_ours"] += e_ours
            tot["err_fw"] += e_fw
            tot["nref"] += len(rw)

    summary = {
        "variant": args.variant, "threads": args.threads, "ours_frames": args.ours_frames, "clips": len(results),
        "audio_s": round(tot["dur"], 2), "windows": tot["windows"],
        "tokens_equal_windows": tot["tokens_equal_windows"],
        "same_text_clips": sum(r["same_text"] for r in results),
        "encoder_max_abs_diff": tot["enc_max"], "mel_max_abs_diff": tot.get("mel_max"), "ours_mel": args.ours_mel,
        "wer_ours": round(tot["err_ours"] / tot["nref"], 4) if tot["nref"] else None,
        "wer_faster_whisper": round(tot["err_fw"] / tot["nref"], 4) if tot["nref"] else None,
        "ref_words": tot["nref"],
        "time_ours_s": round(tot["ours_s"], 3), "time_fw_fp32_s": round(tot["fw_s"], 3),
        "time_fw_int8_s": round(tot["fw8_s"], 3) if ref_int8 else None,
        "ours_breakdown_s": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in ours.timings.items()},
    }
    print("\nSUMMARY " + json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "clips": results}, indent=1, ensure_ascii=False) + "\n")
    if strict and (summary["tokens_equal_windows"] != summary["windows"] or summary["encoder_max_abs_diff"] > 1e-2):
        print("FAIL: ONNX output differs from ctranslate2")
        return 1
    return 0


def bench(args, ours: "OnnxWhisper", fe, path: Path, decode_audio) -> int:
    import ctranslate2
    audio = decode_audio(str(path), sampling_rate=16000)
    seg = _pad(ours.log_mel(audio) if ours.mel is not None else fe(audio))
    res = {"variant": args.variant, "threads": args.threads, "clip": str(path.name), "n": args.bench}

    def med(fn):
        fn()
        ts = []
        for _ in range(args.bench):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return round(float(np.median(ts)), 4)

    res["ours_mel_s"] = med(lambda: ours.log_mel(audio)) if ours.mel is not None else None
    res["fw_mel_s"] = med(lambda: fe(audio))
    res["ours_encoder_s"] = med(lambda: ours.encode(seg))
    hs = ours.encode(seg)
    res["ours_cross_kv_s"] = med(lambda: ours.ckv.run(None, {"encoder_hidden_states": hs}))
    cross = dict(zip(ours.ckv_out, ours.ckv.run(None, {"encoder_hidden_states": hs})))
    feeds = dict(cross, input_ids=np.array([[ours.tok["eot"] - 1]], np.int64))
    for i in range(ours.L):
        for kv in ("key", "value"):
            feeds[f"past_{kv}.{i}"] = np.random.default_rng(i).standard_normal((1, ours.H, 100, ours.dh)).astype(np.float32)
    res["ours_decoder_step_s"] = med(lambda: ours.dec.run(None, feeds))
    for ct in () if args.bench_no_ct2 else ("float32", "int8"):
        m = ctranslate2.models.Whisper(str(args.ct2_dir or args.model_dir / "ct2"), device="cpu", compute_type=ct,
                                       intra_threads=args.threads, inter_threads=1)
        sv = ctranslate2.StorageView.from_array(seg[None].astype(np.float32))
        res[f"ct2_{ct}_encoder_s"] = med(lambda: m.encode(sv))
    print("BENCH " + json.dumps(res))
    return 0


def _pad(seg: np.ndarray) -> np.ndarray:
    if seg.shape[-1] >= N_FRAMES:
        return seg[:, :N_FRAMES]
    return np.pad(seg, ((0, 0), (0, N_FRAMES - seg.shape[-1])))


def _fw_tokenizer(model, lang):
    from faster_whisper.tokenizer import Tokenizer as FwTokenizer
    return FwTokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=lang)


if __name__ == "__main__":
    sys.exit(main())
