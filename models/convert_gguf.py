#!/usr/bin/env python3
"""Convert a GGUF decoder-only LLM (architectures `llama`: SmolLM2, and `qwen2`: Qwen2.5) into one
ONNX graph with a KV cache, built with the `onnx` helper API (no torch), plus a HuggingFace
`tokenizer.json` rebuilt from the GGUF metadata and `llm_config.json` / `generation_config.json`.

Graph I/O (HF/optimum names; L = n_layers, Hkv = n_kv_heads, Dh = head_dim, V = vocab_size):
  inputs   input_ids                    int64   [batch, seq]
           attention_mask               int64   [batch, past_seq + seq]   (1 = attend, 0 = padding)
           position_ids                 int64   [batch, seq]              (RoPE positions)
           past_key_values.N.key/value  float32 [batch, Hkv, past_buf, Dh]  N = 0..L-1 (past_buf may be 0)
           logits_to_keep               int64   scalar, OPTIONAL (overridable initializer, default 0):
                                        k > 0 computes logits only for the last k positions, 0 = all
  outputs  logits                       float32 [batch, seq or k, V]
           present.N.key/value          float32 [batch, Hkv, max(past_buf, past_seq + seq), Dh]
Attention is com.microsoft GroupQueryAttention (causal, batch 1 without padding: past_seq + seq =
sum of attention_mask). Two ways to hold the cache:
  - HF style: past_buf = past_seq; present is a new tensor of past_seq + seq positions.
  - shared buffer: past_buf = a capacity >= past_seq + seq, and the same buffer is bound (IO
    binding) as present.N.*: the op writes only the new positions in place and reads the first
    past_seq + seq, so no step copies the cache. This is how the server runs it.
Keys are stored after RoPE (HF layout: rotate_half convention).

Variants: `model.onnx` (fp32 weights, default) and with --int8 `model.int8.onnx`: every linear layer
(fused q|k|v, o, fused gate|up, down, lm_head) as com.microsoft MatMulNBits (bits=8, block 32,
symmetric, accuracy_level 4 = int8 activations; the only fast 8-bit CPU kernel in onnxruntime 1.31),
token embedding as a Gather of the same uint8 blocks. Q8_0 GGUF tensors are carried over
bit-exactly (same block size and symmetric int8 + scale); other GGUF types (Q4_0/1, Q5_0/1, K-quants)
are dequantized and re-quantized per 32-value block. A graph whose weights exceed ~1.8 GB is written
with its weights in `<graph>.data` next to it (ONNX external data; onnxruntime finds it by itself).

GGUF notes: tensors are [out, in] after dequantization (GGUF lists dims reversed). For the `llama`
architecture llama.cpp's converter permutes the rows of attn_q/attn_k for its interleaved RoPE; they
are permuted back to the HF layout here so both architectures use rotate_half. The attention
scale 1/sqrt(Dh) is folded into the q weights/bias.

Usage: convert_gguf.py --gguf FILE --out-dir DIR [--int8] [--no-fp32] [--no-check] [--name NAME]
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9  # readable by any onnxruntime >= 1.15 (MatMulNBits 8-bit needs a recent one: 1.31 tested)
EXTERNAL_DATA_THRESHOLD = 1_800_000_000  # protobuf's hard limit is 2 GiB
BLOCK = 32  # MatMulNBits block size (= GGUF Q8_0 block size)

# GGUF token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6

# Pre-tokenizers by tokenizer.ggml.pre (must match what llama.cpp does for that value, and the
# model's original HF tokenizer.json)
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def log(msg: str):
    print(f"[convert] {msg}", flush=True)


# --------------------------------------------------------------------------------------
# GGUF access
# --------------------------------------------------------------------------------------


class Gguf:
    def __init__(self, path: Path):
        import gguf  # imported here so `--help` works without it
        self.gguf = gguf
        self.path = path
        self.r = gguf.GGUFReader(str(path))
        self.tensors = {t.name: t for t in self.r.tensors}
        self.arch = self.meta("general.architecture")

    def meta(self, key: str, default=None):
        f = self.r.fields.get(key)
        if f is None:
            return default
        return f.contents()

    def ameta(self, key: str, default=None):
        return self.meta(f"{self.arch}.{key}", default)

    def has(self, name: str) -> bool:
        return name in self.tensors

    def qtype(self, name: str) -> str:
        return self.tensors[name].tensor_type.name

    def f32(self, name: str) -> np.ndarray:
        """Dequantized tensor in numpy order ([out, in] for matrices)."""
        t = self.tensors[name]
        a = self.gguf.quants.dequantize(t.data, t.tensor_type)
        return np.ascontiguousarray(a, dtype=np.float32)

    def q8_0(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Raw Q8_0 blocks of a matrix: (int8 [rows, cols/32, 32], f32 scales [rows, cols/32])."""
        t = self.tensors[name]
        raw = np.asarray(t.data).view(np.uint8)
        rows = raw.shape[0]
        blocks = raw.reshape(rows, -1, 34)
        d = blocks[..., :2].copy().view(np.float16)[..., 0].astype(np.float32)
        q = blocks[..., 2:].copy().view(np.int8)
        return q, d


def quantize_blocks(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per 32-value block along the last axis: w ~ q * s, q in [-127, 127]."""
    rows, cols = w.shape
    assert cols % BLOCK == 0, f"in-features {cols} not a multiple of {BLOCK}"
    b = w.reshape(rows, cols // BLOCK, BLOCK)
    s = np.abs(b).max(axis=-1) / 127.0
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    q = np.clip(np.rint(b * inv[..., None]), -127, 127).astype(np.int8)
    return q, s.astype(np.float32)


def unpermute_rows(x: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of llama.cpp convert_hf_to_gguf `LlamaModel.permute` on the first axis."""
    shape = x.shape
    return x.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


# --------------------------------------------------------------------------------------
# Weight store: keeps initializers in memory or streams them to an external data file
# --------------------------------------------------------------------------------------


class Store:
    def __init__(self, data_path: Path | None):
        self.data_path = data_path
        self.f = open(data_path, "wb") if data_path else None
        self.inits: list[onnx.TensorProto] = []
        self.nbytes = 0

    def add(self, name: str, arr: np.ndarray) -> str:
        arr = np.asarray(arr, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
        self.nbytes += arr.nbytes
        if self.f is None or arr.nbytes < 1024:
            self.inits.append(numpy_helper.from_array(arr, name))
            return name
        off = self.f.tell()
        pad = (-off) % 64
        if pad:
            self.f.write(b"\0" * pad)
            off += pad
        self.f.write(arr.tobytes())
        t = onnx.TensorProto()
        t.name = name
        t.data_type = helper.np_dtype_to_tensor_dtype(arr.dtype)
        t.dims.extend(arr.shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", self.data_path.name), ("offset", str(off)), ("length", str(arr.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.inits.append(t)
        return name

    def close(self):
        if self.f:
            self.f.close()


# --------------------------------------------------------------------------------------
# Graph builder
# --------------------------------------------------------------------------------------


class G:
    def __init__(self, name: str, store: Store):
        self.name = name
        self.store = store
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._n = 0
        self._consts: dict[tuple, str] = {}
        self.uses_ms = False

    def uniq(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def init(self, name: str, arr: np.ndarray) -> str:
        return self.store.add(name, arr)

    def const_i64(self, values) -> str:
        key = ("i64", tuple(np.asarray(values, np.int64).reshape(-1).tolist()), np.ndim(values))
        if key not in self._consts:
            self._consts[key] = self.init(self.uniq("const_i64"), np.asarray(values, np.int64))
        return self._consts[key]

    def const_f32(self, value) -> str:
        key = ("f32", tuple(np.asarray(value, np.float32).reshape(-1).tolist()), np.ndim(value))
        if key not in self._consts:
            self._consts[key] = self.init(self.uniq("const_f32"), np.asarray(value, np.float32))
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, name: str | None = None,
           outputs: list[str] | None = None, domain: str | None = None, **attrs):
        base = name or op_type
        outs = outputs or [self.uniq(base + "_out") for _ in range(n_out)]
        node = helper.make_node(op_type, inputs, outs, name=self.uniq(base), **attrs)
        if domain:
            node.domain = domain
            self.uses_ms = self.uses_ms or domain == "com.microsoft"
        self.nodes.append(node)
        return outs[0] if len(outs) == 1 else outs

    def add_input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))

    def add_output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    def rms_norm(self, x: str, gamma: str, eps: float, name: str) -> str:
        # the pattern onnxruntime fuses into SimplifiedLayerNormalization
        p = self.op("Pow", [x, self.const_f32(2.0)], name=name + "/Pow")
        m = self.op("ReduceMean", [p], name=name + "/ReduceMean", axes=[-1], keepdims=1)
        a = self.op("Add", [m, self.const_f32(eps)], name=name + "/Add")
        s = self.op("Sqrt", [a], name=name + "/Sqrt")
        d = self.op("Div", [x, s], name=name + "/Div")
        return self.op("Mul", [d, gamma], name=name + "/Mul")

    def model(self, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.store.inits)
        opsets = [helper.make_opsetid("", OPSET)]
        if self.uses_ms:
            opsets.append(helper.make_opsetid("com.microsoft", 1))
        m = helper.make_model(graph, opset_imports=opsets, producer_name="ddalkkak-convert_gguf",
                              producer_version="1")
        m.ir_version = IR_VERSION
        m.doc_string = doc
        return m


class Linear:
    """One linear layer y = x W^T (+ b): fp32 MatMul with W^T, or MatMulNBits (8-bit blocks)."""

    def __init__(self, g: G, int8: bool):
        self.g, self.int8 = g, int8

    def add(self, x: str, parts: list[tuple[np.ndarray, np.ndarray] | np.ndarray], bias: np.ndarray | None,
            name: str) -> str:
        """parts: row blocks of W ([out_i, in]) as fp32 arrays, or (int8 q [out_i, nb, 32], scales
        [out_i, nb]) for the int8 variant; concatenated along out (fused projections)."""
        g = self.g
        if self.int8:
            q = np.concatenate([p[0] for p in parts], axis=0)
            s = np.concatenate([p[1] for p in parts], axis=0)
            n, nb, _ = q.shape
            b = g.init(name + ".qweight", (q.astype(np.int16) + 128).astype(np.uint8))
            sc = g.init(name + ".scales", s.reshape(-1).astype(np.float32))
            y = g.op("MatMulNBits", [x, b, sc], name=name + "/MatMulNBits", domain="com.microsoft",
                     K=nb * BLOCK, N=n, bits=8, block_size=BLOCK, accuracy_level=4)
        else:
            w = np.concatenate(parts, axis=0)
            wt = g.init(name + ".weight_t", np.ascontiguousarray(w.T))
            y = g.op("MatMul", [x, wt], name=name + "/MatMul")
        if bias is not None:
            y = g.op("Add", [y, g.init(name + ".bias", bias.astype(np.float32))], name=name + "/Add")
        return y


# --------------------------------------------------------------------------------------
# Model description from GGUF metadata
# --------------------------------------------------------------------------------------


class Cfg:
    def __init__(self, m: Gguf):
        if m.arch not in ("llama", "qwen2"):
            raise SystemExit(f"unsupported architecture {m.arch!r} (supported: llama, qwen2)")
        self.arch = m.arch
        self.n_layers = int(m.ameta("block_count"))
        self.hidden = int(m.ameta("embedding_length"))
        self.ffn = int(m.ameta("feed_forward_length"))
        self.n_heads = int(m.ameta("attention.head_count"))
        self.n_kv_heads = int(m.ameta("attention.head_count_kv", self.n_heads))
        self.head_dim = int(m.ameta("attention.key_length", self.hidden // self.n_heads))
        self.rope_dim = int(m.ameta("rope.dimension_count", self.head_dim))
        self.rope_theta = float(m.ameta("rope.freq_base", 10000.0))
        self.eps = float(m.ameta("attention.layer_norm_rms_epsilon"))
        self.context_length = int(m.ameta("context_length"))
        emb = m.tensors["token_embd.weight"]
        self.vocab = int(emb.shape[-1])
        self.tied = not m.has("output.weight")
        scaling = m.ameta("rope.scaling.type")
        if scaling not in (None, "none"):
            raise SystemExit(f"RoPE scaling {scaling!r} is not implemented")
        if self.rope_dim != self.head_dim:
            raise SystemExit(f"partial RoPE (rope dim {self.rope_dim} != head_dim {self.head_dim}) is not implemented")
        if self.n_heads % self.n_kv_heads:
            raise SystemExit("n_heads must be a multiple of n_kv_heads")
        if m.ameta("attention.value_length", self.head_dim) != self.head_dim:
            raise SystemExit("value head size != key head size is not implemented")
        self.rep = self.n_heads // self.n_kv_heads

    def as_dict(self):
        return {"architecture": self.arch, "n_layers": self.n_layers, "hidden_size": self.hidden,
                "intermediate_size": self.ffn, "n_heads": self.n_heads, "n_kv_heads": self.n_kv_heads,
                "head_dim": self.head_dim, "vocab_size": self.vocab, "context_length": self.context_length,
                "rope_theta": self.rope_theta, "rms_norm_eps": self.eps, "tie_word_embeddings": self.tied}


# --------------------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------------------


def build(m: Gguf, cfg: Cfg, int8: bool, store: Store) -> onnx.ModelProto:
    g = G("llm", store)
    lin = Linear(g, int8)
    L, H, Hkv, Dh, d, V = cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.hidden, cfg.vocab
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    g.add_input("input_ids", i64, ["batch_size", "sequence_length"])
    g.add_input("attention_mask", i64, ["batch_size", "total_sequence_length"])
    g.add_input("position_ids", i64, ["batch_size", "sequence_length"])
    for i in range(L):
        for kv in ("key", "value"):
            g.add_input(f"past_key_values.{i}.{kv}", f32, ["batch_size", Hkv, "past_buffer_length", Dh])
    # overridable initializer (optional input): number of trailing positions to compute logits for
    g.add_input("logits_to_keep", i64, [])
    g.init("logits_to_keep", np.asarray(0, np.int64))
    g.add_output("logits", f32, ["batch_size", "logits_length", V])
    for i in range(L):
        for kv in ("key", "value"):
            g.add_output(f"present.{i}.{kv}", f32, ["batch_size", Hkv, "present_sequence_length", Dh])

    n_tensors = len(m.tensors)
    done = [0]
    t_start = time.time()

    def progress(names: list[str]):
        for nm in names:
            done[0] += 1
            t = m.tensors[nm]
            log(f"tensor {done[0]}/{n_tensors} {nm} {t.tensor_type.name} {list(map(int, t.shape))[::-1]} "
                f"({time.time() - t_start:.1f}s)")

    def weight(name: str, permute_heads: int | None = None, scale: float = 1.0):
        """fp32 [out, in] or (int8 q [out, nb, 32], scales [out, nb]) for the int8 variant."""
        if int8:
            if m.qtype(name) == "Q8_0":
                q, s = m.q8_0(name)  # bit-exact
            else:
                q, s = quantize_blocks(m.f32(name))
            if permute_heads:
                q, s = unpermute_rows(q, permute_heads), unpermute_rows(s, permute_heads)
            return q, s * np.float32(scale)
        w = m.f32(name)
        if permute_heads:
            w = unpermute_rows(w, permute_heads)
        return w * np.float32(scale) if scale != 1.0 else w

    def vec(name: str) -> np.ndarray:
        return m.f32(name).reshape(-1)

    # ---- embedding
    emb_name = "token_embd.weight"
    if int8:
        q, s = (m.q8_0(emb_name) if m.qtype(emb_name) == "Q8_0" else quantize_blocks(m.f32(emb_name)))
        emb_u8 = g.init("embed.qweight", (q.astype(np.int16) + 128).astype(np.uint8))  # [V, nb, 32]
        emb_s = g.init("embed.scales", s.reshape(-1).astype(np.float32))             # [V*nb]
        del q
        gq = g.op("Gather", ["embed.qweight", "input_ids"], name="embed/Gather", axis=0)   # [B,T,nb,32]
        gf = g.op("Cast", [gq], name="embed/Cast", to=f32)
        gf = g.op("Sub", [gf, g.const_f32(128.0)], name="embed/Sub")
        s2 = g.op("Reshape", [emb_s, g.const_i64([V, d // BLOCK, 1])], name="embed/ScalesReshape")
        gs = g.op("Gather", [s2, "input_ids"], name="embed/GatherScales", axis=0)           # [B,T,nb,1]
        x = g.op("Reshape", [g.op("Mul", [gf, gs], name="embed/Mul"), g.const_i64([0, 0, d])], name="embed/Reshape")
    else:
        emb = m.f32(emb_name)                       # [V, d]
        g.init("embed.weight_t", np.ascontiguousarray(emb.T))   # [d, V], shared with lm_head if tied
        del emb
        ge = g.op("Gather", ["embed.weight_t", "input_ids"], name="embed/Gather", axis=1)  # [d,B,T]
        x = g.op("Transpose", [ge], name="embed/Transpose", perm=[1, 2, 0])
    progress([emb_name])

    # ---- sequence lengths for GroupQueryAttention and rotary tables (shared by all layers).
    # Batch 1 without padding: the mask's sum is past + new tokens, its width the total length.
    int32 = TensorProto.INT32
    mask_sum = g.op("ReduceSum", ["attention_mask", g.const_i64([1])], name="gqa/mask_sum", keepdims=0)  # [B]
    seqlens_k = g.op("Cast", [g.op("Sub", [mask_sum, g.const_i64(1)], name="gqa/minus1")], name="gqa/seqlens_k",
                     to=int32)
    total = g.op("Gather", [g.op("Shape", ["attention_mask"], name="gqa/mask_shape"), g.const_i64(1)],
                 name="gqa/total", axis=0)
    total = g.op("Cast", [total], name="gqa/total_i32", to=int32)

    inv_freq = 1.0 / (cfg.rope_theta ** (np.arange(0, Dh, 2, dtype=np.int64).astype(np.float32) / Dh))
    pos_f = g.op("Cast", [g.op("Unsqueeze", ["position_ids", g.const_i64([2])], name="rope/pos3")],
                 name="rope/posf", to=f32)                                                          # [B,T,1]
    freqs = g.op("Mul", [pos_f, g.init("rope.inv_freq", inv_freq.astype(np.float32))], name="rope/freqs")
    embf = g.op("Concat", [freqs, freqs], name="rope/emb", axis=-1)                                # [B,T,Dh]
    embf = g.op("Unsqueeze", [embf, g.const_i64([2])], name="rope/emb4")                           # [B,T,1,Dh]
    cos = g.op("Cos", [embf], name="rope/cos")
    sin = g.op("Sin", [embf], name="rope/sin")

    def rope(t: str, heads: int, name: str) -> str:
        """RoPE (rotate_half) on [B,T,heads*Dh] in place of layout: no transposes."""
        t4 = g.op("Reshape", [t, g.const_i64([0, 0, heads, Dh])], name=name + "/Reshape")         # [B,T,h,Dh]
        x1, x2 = g.op("Split", [t4, g.const_i64([Dh // 2, Dh // 2])], n_out=2, name=name + "/Split", axis=-1)
        rot = g.op("Concat", [g.op("Neg", [x2], name=name + "/Neg"), x1], name=name + "/RotHalf", axis=-1)
        r = g.op("Add", [g.op("Mul", [t4, cos], name=name + "/MulCos"),
                         g.op("Mul", [rot, sin], name=name + "/MulSin")], name=name + "/Add")
        return g.op("Reshape", [r, g.const_i64([0, 0, heads * Dh])], name=name + "/Merge")

    qscale = 1.0 / math.sqrt(Dh)
    permute = cfg.arch == "llama"
    for i in range(L):
        p, n = f"blk.{i}.", f"layers.{i}"
        # attention
        h = g.rms_norm(x, g.init(f"{n}.attn_norm", vec(p + "attn_norm.weight")), cfg.eps, n + "/attn_norm")
        wq = weight(p + "attn_q.weight", H if permute else None, qscale)
        wk = weight(p + "attn_k.weight", Hkv if permute else None)
        wv = weight(p + "attn_v.weight")
        bias = None
        if m.has(p + "attn_q.bias"):
            bq, bk = vec(p + "attn_q.bias"), vec(p + "attn_k.bias")
            if permute:
                bq, bk = unpermute_rows(bq, H), unpermute_rows(bk, Hkv)
            bias = np.concatenate([bq * np.float32(qscale), bk, vec(p + "attn_v.bias")])
        qkv = lin.add(h, [wq, wk, wv], bias, n + "/qkv")
        del wq, wk, wv
        q, k, v = g.op("Split", [qkv, g.const_i64([H * Dh, Hkv * Dh, Hkv * Dh])], n_out=3, name=n + "/qkv_split",
                       axis=-1)
        q = rope(q, H, n + "/rope_q")
        k = rope(k, Hkv, n + "/rope_k")
        # causal grouped-query attention over the cache; q is pre-scaled (scale 1). present.N.* may be
        # the same buffer as past_key_values.N.* (capacity >= total length): the op then writes only
        # the new positions, the rest of the buffer is never read.
        ctx, _, _ = g.op("GroupQueryAttention",
                   [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total],
                   name=n + "/attn", domain="com.microsoft",
                   outputs=[g.uniq(n + "/attn_out"), f"present.{i}.key", f"present.{i}.value"],
                   num_heads=H, kv_num_heads=Hkv, scale=1.0)
        o = lin.add(ctx, [weight(p + "attn_output.weight")], None, n + "/o")
        x = g.op("Add", [x, o], name=n + "/attn_residual")
        # MLP (SwiGLU)
        h = g.rms_norm(x, g.init(f"{n}.ffn_norm", vec(p + "ffn_norm.weight")), cfg.eps, n + "/ffn_norm")
        gu = lin.add(h, [weight(p + "ffn_gate.weight"), weight(p + "ffn_up.weight")], None, n + "/gate_up")
        gate, up = g.op("Split", [gu, g.const_i64([cfg.ffn, cfg.ffn])], n_out=2, name=n + "/gu_split", axis=-1)
        act = g.op("Mul", [gate, g.op("Sigmoid", [gate], name=n + "/sigmoid")], name=n + "/silu")
        act = g.op("Mul", [act, up], name=n + "/glu")
        dn = lin.add(act, [weight(p + "ffn_down.weight")], None, n + "/down")
        x = g.op("Add", [x, dn], name=n + "/ffn_residual")
        progress(sorted(t for t in m.tensors if t.startswith(p)))

    x = g.rms_norm(x, g.init("final_norm", vec("output_norm.weight")), cfg.eps, "final_norm")
    # logits_to_keep = k: positions [-k:] (k = 0 -> start 0 -> all)
    start = g.op("Unsqueeze", [g.op("Neg", ["logits_to_keep"], name="keep/neg"), g.const_i64([0])], name="keep/start")
    x = g.op("Slice", [x, start, g.const_i64([np.iinfo(np.int64).max]), g.const_i64([1])], name="keep/slice")
    if cfg.tied:
        if int8:
            g.op("MatMulNBits", [x, emb_u8, emb_s], name="lm_head/MatMulNBits", domain="com.microsoft",
                 outputs=["logits"], K=d, N=V, bits=8, block_size=BLOCK, accuracy_level=4)
        else:
            g.op("MatMul", [x, "embed.weight_t"], name="lm_head/MatMul", outputs=["logits"])
    else:
        y = lin.add(x, [weight("output.weight")], None, "lm_head")
        g.nodes[-1].output[0] = "logits"
        del y
    progress([t for t in ("output_norm.weight", "output.weight") if m.has(t)])
    return g.model(f"{m.meta('general.name')} ({cfg.arch}) converted from GGUF by ddalkkak convert_gguf.py; "
                   f"{'int8 MatMulNBits' if int8 else 'fp32'} weights")


# --------------------------------------------------------------------------------------
# tokenizer.json from GGUF metadata
# --------------------------------------------------------------------------------------


def build_tokenizer(m: Gguf) -> tuple[dict, dict]:
    model = m.meta("tokenizer.ggml.model")
    if model != "gpt2":
        raise SystemExit(f"tokenizer.ggml.model {model!r} not supported (only gpt2 = byte-level BPE)")
    pre = m.meta("tokenizer.ggml.pre", "default")
    tokens = m.meta("tokenizer.ggml.tokens")
    types = m.meta("tokenizer.ggml.token_type") or [TT_NORMAL] * len(tokens)
    merges = m.meta("tokenizer.ggml.merges")
    vocab, added = {}, []
    n_unused = 0
    for i, (tok, ty) in enumerate(zip(tokens, types)):
        if ty == TT_UNUSED:  # llama.cpp's "[PAD<i>]" fillers up to the model's embedding size
            n_unused += 1
            continue
        vocab[tok] = i
        if ty in (TT_CONTROL, TT_USER):
            added.append({"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": ty == TT_CONTROL})
    if len(vocab) != len(tokens) - n_unused:
        raise SystemExit("duplicate tokens in tokenizer.ggml.tokens")
    pairs = []
    for mg in merges:
        a, sep, b = mg.partition(" ")
        if not sep or " " in b:
            raise SystemExit(f"unexpected merge {mg!r}")
        pairs.append([a, b])

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    normalizer = None
    if pre in ("smollm", "starcoder", "refact"):
        # HF: Digits(individual) + ByteLevel with the GPT-2 regex; llama.cpp: "\p{N}" then the GPT-2 regex
        pre_tok = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}
    elif pre == "qwen2":
        normalizer = {"type": "NFC"}
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    elif pre in ("gpt-2", "default"):
        pre_tok = byte_level
    else:
        raise SystemExit(f"tokenizer.ggml.pre {pre!r}: pre-tokenizer regex not known to this converter")
    tok_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tok,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": pairs},
    }
    info = {"pre": pre, "n_tokens": len(vocab), "n_merges": len(pairs), "n_unused_ids": n_unused,
            "n_added_tokens": len(added)}
    return tok_json, info


def chat_info(m: Gguf, token_id: dict) -> dict:
    tpl = m.meta("tokenizer.chat_template") or ""
    chatml = "<|im_start|>" in tpl and "<|im_end|>" in tpl and "<|im_start|>" in token_id
    sysm = re.search(r"<\|im_start\|>system(?:\n|\\n)([^'\"<{]+?)<\|im_end\|>", tpl)
    return {
        "kind": "chatml" if chatml else "unknown",
        # ChatML: "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then "<|im_start|>assistant\n"
        "message_format": "<|im_start|>{role}\n{content}<|im_end|>\n" if chatml else None,
        "generation_prompt": "<|im_start|>assistant\n" if chatml else None,
        "default_system_prompt": sysm.group(1) if sysm else None,
        "jinja": tpl or None,
    }


# --------------------------------------------------------------------------------------
# self-check: KV-cache decoding vs one full pass (random tokens)
# --------------------------------------------------------------------------------------


def self_check(path: Path, cfg: Cfg, n_tokens: int = 12, split: int = 5) -> dict:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "2"))
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    ids = rng.integers(100, min(cfg.vocab, 30000), size=(1, n_tokens)).astype(np.int64)
    names = [o.name for o in sess.get_outputs()]

    def run(tok, past, start):
        t = tok.shape[1]
        feeds = {"input_ids": tok, "attention_mask": np.ones((1, start + t), np.int64),
                 "position_ids": np.arange(start, start + t, dtype=np.int64)[None]}
        for i in range(cfg.n_layers):
            feeds[f"past_key_values.{i}.key"], feeds[f"past_key_values.{i}.value"] = past[i]
        r = dict(zip(names, sess.run(None, feeds)))
        return r["logits"], [(r[f"present.{i}.key"], r[f"present.{i}.value"]) for i in range(cfg.n_layers)]

    empty = [(np.zeros((1, cfg.n_kv_heads, 0, cfg.head_dim), np.float32),) * 2 for _ in range(cfg.n_layers)]
    full, _ = run(ids, empty, 0)
    lg, past = run(ids[:, :split], empty, 0)
    steps = [lg]
    for t in range(split, n_tokens):
        lg, past = run(ids[:, t:t + 1], past, t)
        steps.append(lg)
    inc = np.concatenate(steps, axis=1)

    # the server's way: one capacity buffer per cache tensor, bound as past and present (IO binding)
    cap = n_tokens + 4
    bufs = [ort.OrtValue.ortvalue_from_numpy(np.full((1, cfg.n_kv_heads, cap, cfg.head_dim), np.nan, np.float32))
            for _ in range(2 * cfg.n_layers)]

    def run_shared(tok, start):
        t = tok.shape[1]
        io = sess.io_binding()
        io.bind_cpu_input("input_ids", tok)
        io.bind_cpu_input("attention_mask", np.ones((1, start + t), np.int64))
        io.bind_cpu_input("position_ids", np.arange(start, start + t, dtype=np.int64)[None])
        io.bind_output("logits")
        for i in range(cfg.n_layers):
            for j, kv in enumerate(("key", "value")):
                io.bind_ortvalue_input(f"past_key_values.{i}.{kv}", bufs[2 * i + j])
                io.bind_ortvalue_output(f"present.{i}.{kv}", bufs[2 * i + j])
        sess.run_with_iobinding(io)
        return io.copy_outputs_to_cpu()[0]

    # a prompt, a later multi-token run (the server prefills in pieces), then single tokens
    shared = [run_shared(ids[:, :split], 0), run_shared(ids[:, split:split + 3], split)]
    shared += [run_shared(ids[:, t:t + 1], t) for t in range(split + 3, n_tokens)]
    shared = np.concatenate(shared, axis=1)
    return {"kv_cache_vs_full_max_abs_diff": float(np.abs(inc - full).max()),
            "shared_buffer_vs_full_max_abs_diff": float(np.abs(shared - full).max()),
            "logits_abs_max": float(np.abs(full).max()),
            "argmax_equal": bool((inc.argmax(-1) == full.argmax(-1)).all()
                                 and (shared.argmax(-1) == full.argmax(-1)).all())}


# --------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def io_spec(model: onnx.ModelProto) -> dict:
    init = {i.name for i in model.graph.initializer}

    def vi(v):
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
        r = {"name": v.name, "dtype": TensorProto.DataType.Name(t.elem_type).lower(), "shape": dims}
        if v.name in init:
            r["optional"] = True
        return r
    return {"inputs": [vi(v) for v in model.graph.input], "outputs": [vi(v) for v in model.graph.output]}


def write_graph(m: Gguf, cfg: Cfg, out_dir: Path, fname: str, int8: bool) -> tuple[dict, dict]:
    path = out_dir / fname
    data_path = out_dir / (fname + ".data")
    for p in (path, data_path):
        p.unlink(missing_ok=True)
    # weights: fp32 ~4 bytes per parameter (+ lm_head if untied); int8 ~1.125
    n_params = sum(int(t.n_elements) for t in m.r.tensors)
    est = n_params * (1.125 if int8 else 4.0)
    external = est > EXTERNAL_DATA_THRESHOLD
    store = Store(data_path if external else None)
    t0 = time.time()
    log(f"building {fname} ({'int8' if int8 else 'fp32'}, ~{est / 1e9:.2f} GB of weights"
        f"{', external data ' + data_path.name if external else ''})")
    try:
        model = build(m, cfg, int8, store)
    finally:
        store.close()
    onnx.save_model(model, str(path))
    onnx.checker.check_model(str(path))
    size = path.stat().st_size + (data_path.stat().st_size if external else 0)
    log(f"wrote {path} ({size / 1e6:.1f} MB{' incl. ' + data_path.name if external else ''}, "
        f"{len(model.graph.node)} nodes, {time.time() - t0:.1f}s)")
    io = io_spec(model)
    del model
    return io, {"file": fname, "external_data": data_path.name if external else None, "bytes": size,
                "weights": "int8 MatMulNBits (bits=8, block_size=32, symmetric, accuracy_level=4)" if int8
                else "float32"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True, type=Path)
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx (MatMulNBits 8-bit weights)")
    ap.add_argument("--no-fp32", action="store_true", help="do not write the fp32 model.onnx (needs --int8)")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime self-check")
    ap.add_argument("--name", default=None, help="model name recorded in llm_config.json")
    args = ap.parse_args(argv)
    if args.no_fp32 and not args.int8:
        ap.error("--no-fp32 needs --int8")

    t0 = time.time()
    m = Gguf(args.gguf)
    cfg = Cfg(m)
    qtypes = collections.Counter(t.tensor_type.name for t in m.r.tensors)
    log(f"{args.gguf.name}: {m.meta('general.name')!r} arch={cfg.arch} {cfg.as_dict()} tensor types {dict(qtypes)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    tok_json, tok_info = build_tokenizer(m)
    (args.out_dir / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False) + "\n")
    token_id = tok_json["model"]["vocab"]
    log(f"wrote tokenizer.json ({tok_info})")

    graphs, io, checks = {}, {}, {}
    variants = ([] if args.no_fp32 else [("fp32", "model.onnx", False)]) + \
               ([("int8", "model.int8.onnx", True)] if args.int8 else [])
    for var, fname, q in variants:
        io[var], graphs[var] = write_graph(m, cfg, args.out_dir, fname, q)
        if not args.no_check:
            tc = time.time()
            checks[var] = self_check(args.out_dir / fname, cfg)
            log(f"self-check {var}: {checks[var]} ({time.time() - tc:.1f}s)")
    for var in ("fp32", "int8"):
        if var not in graphs:  # a stale graph of a variant not written this time
            for suffix in ("", ".data"):
                (args.out_dir / (("model.onnx" if var == "fp32" else "model.int8.onnx") + suffix)).unlink(missing_ok=True)

    def tid(tok):
        return token_id.get(tok)
    eos = m.meta("tokenizer.ggml.eos_token_id")
    eos_ids = [int(eos)] if eos is not None else []
    for t in ("<|im_end|>", "<|endoftext|>"):
        if tid(t) is not None and tid(t) not in eos_ids:
            eos_ids.append(tid(t))
    bos = m.meta("tokenizer.ggml.bos_token_id")
    pad = m.meta("tokenizer.ggml.padding_token_id")
    chat = chat_info(m, token_id)
    lc = {
        "format": "ddalkkak-llm-onnx/2",
        "name": args.name or m.meta("general.name"),
        "source": {"format": "gguf", "file": args.gguf.name, "sha256": sha256(args.gguf),
                   "general.name": m.meta("general.name"), "license": m.meta("general.license"),
                   "file_type": m.meta("general.file_type"), "tensor_types": dict(qtypes)},
        **cfg.as_dict(),
        "cache_dtype": "float32",
        "logits_dtype": "float32",
        "bos_token_id": None if bos is None else int(bos),
        "add_bos_token": bool(m.meta("tokenizer.ggml.add_bos_token", False)),
        "eos_token_ids": eos_ids,
        "pad_token_id": None if pad is None else int(pad),
        "special_tokens": {k: tid(v) for k, v in (("im_start", "<|im_start|>"), ("im_end", "<|im_end|>"),
                                                   ("endoftext", "<|endoftext|>")) if tid(v) is not None},
        "tokenizer": tok_info,
        "chat_template": chat,
        "graphs": graphs,
        "io": io,
        "self_check": checks,
        "notes": "Inputs: past_key_values.N.* start empty (HF style) or as a capacity buffer also bound as "
                 "present.N.* (shared buffer, see convert_gguf.py); attention_mask covers past + "
                 "new tokens; position_ids are the RoPE positions (past_len + i without padding). "
                 "logits_to_keep (optional int64 scalar, default 0 = all) limits logits to the last k positions. "
                 "Keys in the cache are post-RoPE; q is pre-scaled by 1/sqrt(head_dim) inside the graph.",
    }
    (args.out_dir / "llm_config.json").write_text(json.dumps(lc, indent=1, ensure_ascii=False) + "\n")
    gen = {"bos_token_id": lc["bos_token_id"], "eos_token_id": eos_ids, "pad_token_id": lc["pad_token_id"],
           "do_sample": False, "max_length": cfg.context_length}
    (args.out_dir / "generation_config.json").write_text(json.dumps(gen, indent=1) + "\n")
    log(f"wrote llm_config.json, generation_config.json (eos {eos_ids}, chat {chat['kind']})")
    for var, c in checks.items():
        worst = max(c["kv_cache_vs_full_max_abs_diff"], c["shared_buffer_vs_full_max_abs_diff"])
        # int8 activations are quantized per call, so 1-row and n-row calls differ a little (SmolLM2:
        # ~0.8, below its int8-vs-fp32 difference of ~1.7); NaN (an unwritten slot was read) fails
        if not worst <= (1e-2 if var == "fp32" else 2.0):
            raise SystemExit(f"self-check failed ({var}): KV-cache decoding differs from a full pass: {c}")
    log(f"done in {time.time() - t0:.1f}s -> {args.out_dir}")


if __name__ == "__main__":
    sys.exit(main())
