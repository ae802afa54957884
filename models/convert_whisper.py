#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (model.bin + config.json + tokenizer.json)
into ONNX graphs built with the `onnx` helper API (standard ops only, no torch):

  mel.onnx       audio [batch, samples] (16 kHz)       -> mel [batch, n_mels, samples/160 + 1]
                 (faster-whisper-compatible log-mel front end; optional for a runtime)
  encoder.onnx   mel [batch, n_mels, frames]          -> encoder_hidden_states [batch, frames/2, d]
  cross_kv.onnx  encoder_hidden_states [batch, S, d]   -> cross_k.N / cross_v.N [batch, heads, S, head_dim]
  decoder.onnx   input_ids [batch, seq] int64,
                 cross_k.N / cross_v.N,
                 past_key.N / past_value.N [batch, heads, past_len, head_dim]
                 -> logits [batch, seq, vocab],
                    present_key.N / present_value.N [batch, heads, past_len+seq, head_dim],
                    alignment_attention [batch, n_alignment_heads, seq, S]   (if the config has alignment heads)

The decoder's position offset is past_len (dimension 2 of past_key.0); the first call passes
past tensors with past_len = 0.

Also writes whisper_config.json (dimensions, special token ids, suppress lists, I/O names) and
copies tokenizer.json next to the graphs, so a runtime needs nothing from the CTranslate2 directory.

CTranslate2 model.bin layout (binary version 6), little-endian:
  u32 version, string spec_name, u32 revision, u32 n_variables,
  n_variables x { string name, u8 rank, rank x u32 shape, u8 dtype, u32 nbytes, bytes },
  u32 n_aliases, n_aliases x { string alias, string target }
  string = u16 length (incl. NUL) + bytes; dtype 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.
Quantized weights (int8/int16) come with a `<name>_scale` variable (CTranslate2 stores
q = round(w * scale), so w = q / scale, one scale per output row for int8).

Usage: convert_whisper.py --ct2-dir DIR --out-dir DIR [--int8] [--no-check]
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9  # readable by any onnxruntime >= 1.15

# --------------------------------------------------------------------------------------
# CTranslate2 model.bin reader
# --------------------------------------------------------------------------------------

_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bf16"}


def read_ct2_model(path: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, str]]:
    """Returns (header, raw variables, aliases). Raw variables keep their stored dtype."""
    buf = memoryview(path.read_bytes())
    off = 0

    def u(fmt: str):
        nonlocal off
        v = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize(fmt)
        return v[0]

    def s() -> str:
        nonlocal off
        n = u("H")
        v = bytes(buf[off:off + n])
        off += n
        return v.rstrip(b"\0").decode("utf-8")

    version = u("I")
    if version < 5:
        raise ValueError(f"unsupported CTranslate2 binary version {version}")
    spec = s()
    revision = u("I")
    n_vars = u("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(n_vars):
        name = s()
        rank = u("B")
        shape = tuple(u("I") for _ in range(rank))
        dtype_id = u("B")
        nbytes = u("I")
        raw = buf[off:off + nbytes]
        off += nbytes
        dt = _CT2_DTYPES.get(dtype_id)
        if dt is None:
            raise ValueError(f"{name}: unknown dtype id {dtype_id}")
        if dt == "bf16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dt)
        variables[name] = arr.reshape(shape).copy()
    aliases: dict[str, str] = {}
    if off < len(buf):
        n_alias = u("I")
        for _ in range(n_alias):
            a = s()
            aliases[a] = s()
    if off != len(buf):
        raise ValueError(f"trailing bytes in model.bin: parsed {off} of {len(buf)}")
    header = {"binary_version": version, "spec": spec, "spec_revision": revision}
    return header, variables, aliases


class Weights:
    """fp32 view of CTranslate2 variables (dequantizes fp16/bf16/int8/int16 on access)."""

    def __init__(self, variables: dict[str, np.ndarray], aliases: dict[str, str]):
        self.v = variables
        self.aliases = aliases
        self.source_dtypes: set[str] = set()

    def has(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.v

    def scalar(self, name: str) -> int:
        return int(self.v[name].reshape(-1)[0])

    def f32(self, name: str) -> np.ndarray:
        name = self.aliases.get(name, name)
        a = self.v[name]
        self.source_dtypes.add(str(a.dtype))
        if a.dtype in (np.int8, np.int16):
            scale = self.v.get(name + "_scale")
            if scale is None:
                raise ValueError(f"{name} is {a.dtype} without {name}_scale")
            scale = scale.astype(np.float32)
            if scale.ndim == 1 and a.ndim == 2:
                scale = scale[:, None]
            return (a.astype(np.float32) / scale).astype(np.float32)
        return a.astype(np.float32)


# --------------------------------------------------------------------------------------
# Small graph builder
# --------------------------------------------------------------------------------------


class G:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._n = 0
        self._consts: dict[tuple, str] = {}

    def uniq(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def const_i64(self, values) -> str:
        key = ("i64", tuple(np.asarray(values, np.int64).reshape(-1).tolist()), np.ndim(values))
        if key not in self._consts:
            self._consts[key] = self.init(self.uniq("const_i64"), np.asarray(values, np.int64))
        return self._consts[key]

    def const_f32(self, value: float) -> str:
        key = ("f32", float(value))
        if key not in self._consts:
            self._consts[key] = self.init(self.uniq("const_f32"), np.asarray(value, np.float32))
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, name: str | None = None,
           outputs: list[str] | None = None, **attrs):
        base = name or op_type
        outs = outputs or [self.uniq(base + "_out") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.uniq(base), **attrs))
        return outs[0] if len(outs) == 1 else outs

    def add_input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))

    def add_output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    # composite helpers ------------------------------------------------------------
    def linear(self, x: str, w_t: str, b: str | None, name: str) -> str:
        y = self.op("MatMul", [x, w_t], name=name + "/MatMul")
        if b is not None:
            y = self.op("Add", [y, b], name=name + "/Add")
        return y

    def layer_norm(self, x: str, gamma: str, beta: str, name: str) -> str:
        return self.op("LayerNormalization", [x, gamma, beta], name=name, axis=-1, epsilon=1e-5)

    def gelu(self, x: str, name: str) -> str:
        # exact (erf) GELU; onnxruntime fuses this pattern into its Gelu kernel
        d = self.op("Div", [x, self.const_f32(math.sqrt(2.0))], name=name + "/Div")
        e = self.op("Erf", [d], name=name + "/Erf")
        a = self.op("Add", [e, self.const_f32(1.0)], name=name + "/Add")
        m = self.op("Mul", [x, a], name=name + "/Mul")
        return self.op("Mul", [m, self.const_f32(0.5)], name=name + "/Mul_half")

    def split_heads(self, x: str, heads: int, head_dim: int, name: str) -> str:
        """[B, T, H*Dh] -> [B, H, T, Dh]"""
        r = self.op("Reshape", [x, self.const_i64([0, 0, heads, head_dim])], name=name + "/Reshape")
        return self.op("Transpose", [r], name=name + "/Transpose", perm=[0, 2, 1, 3])

    def merge_heads(self, x: str, d: int, name: str) -> str:
        """[B, H, T, Dh] -> [B, T, H*Dh]"""
        t = self.op("Transpose", [x], name=name + "/Transpose", perm=[0, 2, 1, 3])
        return self.op("Reshape", [t, self.const_i64([0, 0, d])], name=name + "/Reshape")

    def attention(self, q: str, k: str, v: str, name: str, mask: str | None = None):
        """q pre-scaled by 1/sqrt(Dh); q,k,v [B,H,T,Dh]. Returns (context [B,H,Tq,Dh], probs)."""
        kt = self.op("Transpose", [k], name=name + "/Kt", perm=[0, 1, 3, 2])
        s = self.op("MatMul", [q, kt], name=name + "/QK")
        if mask is not None:
            s = self.op("Add", [s, mask], name=name + "/Mask")
        p = self.op("Softmax", [s], name=name + "/Softmax", axis=-1)
        return self.op("MatMul", [p, v], name=name + "/PV"), p

    def model(self, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ddalkkak-convert_whisper", producer_version="1")
        m.ir_version = IR_VERSION
        m.doc_string = doc
        return m


# --------------------------------------------------------------------------------------
# Whisper graphs
# --------------------------------------------------------------------------------------


class Dims:
    def __init__(self, w: Weights):
        self.d = w.v["encoder/conv1/weight"].shape[0]
        self.n_mels = w.v["encoder/conv1/weight"].shape[1]
        self.enc_heads = w.scalar("encoder/num_heads")
        self.dec_heads = w.scalar("decoder/num_heads")
        self.enc_layers = _count_layers(w, "encoder")
        self.dec_layers = _count_layers(w, "decoder")
        self.vocab = w.v["decoder/embeddings/weight"].shape[0]
        self.n_audio_ctx = w.v["encoder/position_encodings/encodings"].shape[0]
        self.n_text_ctx = w.v["decoder/position_encodings/encodings"].shape[0]
        self.head_dim = self.d // self.dec_heads
        act = w.scalar("decoder/activation") if "decoder/activation" in w.v else 3
        if act != 3:
            raise ValueError(f"expected GELU activation (3), got {act}")
        if "decoder/scale_embeddings" in w.v and w.scalar("decoder/scale_embeddings"):
            raise ValueError("scale_embeddings=true is not supported")

    def as_dict(self):
        return {k: getattr(self, k) for k in ("d", "n_mels", "enc_heads", "dec_heads", "enc_layers",
                                              "dec_layers", "vocab", "n_audio_ctx", "n_text_ctx",
                                              "head_dim")}


def _count_layers(w: Weights, prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in w.v:
        n += 1
    return n


def _split_fused(wt: np.ndarray, b: np.ndarray | None, parts: int):
    d_out = wt.shape[0] // parts
    ws = [wt[i * d_out:(i + 1) * d_out] for i in range(parts)]
    bs = [None if b is None else b[i * d_out:(i + 1) * d_out] for i in range(parts)]
    return ws, bs


def build_encoder(w: Weights, dims: Dims) -> onnx.ModelProto:
    g = G("whisper_encoder")
    d, H = dims.d, dims.enc_heads
    dh = d // H
    g.add_input("mel", TensorProto.FLOAT, ["batch", dims.n_mels, "frames"])
    g.add_output("encoder_hidden_states", TensorProto.FLOAT, ["batch", "enc_frames", d])

    x = g.op("Conv", ["mel", g.init("encoder.conv1.weight", w.f32("encoder/conv1/weight")),
                      g.init("encoder.conv1.bias", w.f32("encoder/conv1/bias"))],
             name="encoder/conv1", kernel_shape=[3], pads=[1, 1], strides=[1])
    x = g.gelu(x, "encoder/conv1/gelu")
    x = g.op("Conv", [x, g.init("encoder.conv2.weight", w.f32("encoder/conv2/weight")),
                      g.init("encoder.conv2.bias", w.f32("encoder/conv2/bias"))],
             name="encoder/conv2", kernel_shape=[3], pads=[1, 1], strides=[2])
    x = g.gelu(x, "encoder/conv2/gelu")
    x = g.op("Transpose", [x], name="encoder/to_btd", perm=[0, 2, 1])  # [B, T2, d]
    # positional embedding sliced to the actual number of frames (supports < 30 s inputs)
    shp = g.op("Shape", [x], name="encoder/shape")
    t2 = g.op("Slice", [shp, g.const_i64([1]), g.const_i64([2]), g.const_i64([0])], name="encoder/T2")
    pos = g.op("Slice", [g.init("encoder.positional_embedding",
                                w.f32("encoder/position_encodings/encodings")),
                         g.const_i64([0]), t2, g.const_i64([0])], name="encoder/pos_slice")
    x = g.op("Add", [x, pos], name="encoder/add_pos")

    scale = 1.0 / math.sqrt(dh)
    for i in range(dims.enc_layers):
        p = f"encoder/layer_{i}"
        n = f"encoder.layer{i}"
        h = g.layer_norm(x, g.init(f"{n}.attn_ln.gamma", w.f32(f"{p}/self_attention/layer_norm/gamma")),
                         g.init(f"{n}.attn_ln.beta", w.f32(f"{p}/self_attention/layer_norm/beta")),
                         f"{p}/attn_ln")
        wqkv = w.f32(f"{p}/self_attention/linear_0/weight")
        bqkv = w.f32(f"{p}/self_attention/linear_0/bias")
        wqkv[:d] *= scale
        bqkv[:d] *= scale
        qkv = g.linear(h, g.init(f"{n}.qkv.weight_t", wqkv.T), g.init(f"{n}.qkv.bias", bqkv), f"{p}/qkv")
        q, k, v = g.op("Split", [qkv, g.const_i64([d, d, d])], n_out=3, name=f"{p}/split_qkv", axis=-1)
        q = g.split_heads(q, H, dh, f"{p}/q")
        k = g.split_heads(k, H, dh, f"{p}/k")
        v = g.split_heads(v, H, dh, f"{p}/v")
        ctx, _ = g.attention(q, k, v, f"{p}/attn")
        o = g.linear(g.merge_heads(ctx, d, f"{p}/ctx"),
                     g.init(f"{n}.out.weight_t", w.f32(f"{p}/self_attention/linear_1/weight").T),
                     g.init(f"{n}.out.bias", w.f32(f"{p}/self_attention/linear_1/bias")), f"{p}/out")
        x = g.op("Add", [x, o], name=f"{p}/attn_residual")
        x = _ffn(g, w, x, p, n)
    x = g.layer_norm(x, g.init("encoder.ln_post.gamma", w.f32("encoder/layer_norm/gamma")),
                     g.init("encoder.ln_post.beta", w.f32("encoder/layer_norm/beta")), "encoder/ln_post")
    g.op("Identity", [x], name="encoder/output", outputs=["encoder_hidden_states"])
    return g.model("Whisper encoder converted from CTranslate2 by models/convert_whisper.py")


def _ffn(g: G, w: Weights, x: str, p: str, n: str) -> str:
    h = g.layer_norm(x, g.init(f"{n}.ffn_ln.gamma", w.f32(f"{p}/ffn/layer_norm/gamma")),
                     g.init(f"{n}.ffn_ln.beta", w.f32(f"{p}/ffn/layer_norm/beta")), f"{p}/ffn_ln")
    h = g.linear(h, g.init(f"{n}.fc1.weight_t", w.f32(f"{p}/ffn/linear_0/weight").T),
                 g.init(f"{n}.fc1.bias", w.f32(f"{p}/ffn/linear_0/bias")), f"{p}/fc1")
    h = g.gelu(h, f"{p}/ffn_gelu")
    h = g.linear(h, g.init(f"{n}.fc2.weight_t", w.f32(f"{p}/ffn/linear_1/weight").T),
                 g.init(f"{n}.fc2.bias", w.f32(f"{p}/ffn/linear_1/bias")), f"{p}/fc2")
    return g.op("Add", [x, h], name=f"{p}/ffn_residual")


def build_cross_kv(w: Weights, dims: Dims) -> onnx.ModelProto:
    g = G("whisper_cross_kv")
    d, H = dims.d, dims.dec_heads
    dh = d // H
    g.add_input("encoder_hidden_states", TensorProto.FLOAT, ["batch", "enc_frames", d])
    for i in range(dims.dec_layers):
        p = f"decoder/layer_{i}/attention"
        wkv = w.f32(f"{p}/linear_1/weight")
        bkv = w.f32(f"{p}/linear_1/bias")
        kv = g.linear("encoder_hidden_states", g.init(f"decoder.layer{i}.cross_kv.weight_t", wkv.T),
                      g.init(f"decoder.layer{i}.cross_kv.bias", bkv), f"{p}/kv")
        k, v = g.op("Split", [kv, g.const_i64([d, d])], n_out=2, name=f"{p}/split_kv", axis=-1)
        for t, nm in ((k, f"cross_k.{i}"), (v, f"cross_v.{i}")):
            r = g.op("Reshape", [t, g.const_i64([0, 0, H, dh])], name=f"{p}/{nm}/Reshape")
            g.op("Transpose", [r], name=f"{p}/{nm}/Transpose", outputs=[nm], perm=[0, 2, 1, 3])
            g.add_output(nm, TensorProto.FLOAT, ["batch", H, "enc_frames", dh])
    return g.model("Whisper cross-attention K/V (all decoder layers), from models/convert_whisper.py")


def build_decoder(w: Weights, dims: Dims, alignment_heads: list[list[int]]) -> onnx.ModelProto:
    g = G("whisper_decoder")
    d, H = dims.d, dims.dec_heads
    dh = d // H
    L = dims.dec_layers
    g.add_input("input_ids", TensorProto.INT64, ["batch", "seq"])
    for i in range(L):
        g.add_input(f"cross_k.{i}", TensorProto.FLOAT, ["batch", H, "enc_frames", dh])
        g.add_input(f"cross_v.{i}", TensorProto.FLOAT, ["batch", H, "enc_frames", dh])
    for i in range(L):
        g.add_input(f"past_key.{i}", TensorProto.FLOAT, ["batch", H, "past_len", dh])
        g.add_input(f"past_value.{i}", TensorProto.FLOAT, ["batch", H, "past_len", dh])
    g.add_output("logits", TensorProto.FLOAT, ["batch", "seq", dims.vocab])
    for i in range(L):
        g.add_output(f"present_key.{i}", TensorProto.FLOAT, ["batch", H, "total_len", dh])
        g.add_output(f"present_value.{i}", TensorProto.FLOAT, ["batch", H, "total_len", dh])

    # token embedding, stored once as [d, vocab] and shared with the output projection
    emb_t = g.init("decoder.embed_tokens.weight_t", w.f32("decoder/embeddings/weight").T.copy())
    tok = g.op("Gather", [emb_t, "input_ids"], name="decoder/embed_gather", axis=1)  # [d, B, seq]
    tok = g.op("Transpose", [tok], name="decoder/embed_transpose", perm=[1, 2, 0])  # [B, seq, d]

    # positions = past_len .. past_len + seq - 1
    past_shape = g.op("Shape", ["past_key.0"], name="decoder/past_shape")
    past_len = g.op("Gather", [past_shape, g.const_i64(2)], name="decoder/past_len", axis=0)  # scalar
    ids_shape = g.op("Shape", ["input_ids"], name="decoder/ids_shape")
    seq_len = g.op("Gather", [ids_shape, g.const_i64(1)], name="decoder/seq_len", axis=0)
    total = g.op("Add", [past_len, seq_len], name="decoder/total_len")
    positions = g.op("Range", [past_len, total, g.const_i64(1)], name="decoder/positions")  # [seq]
    pos = g.op("Gather", [g.init("decoder.positional_embedding",
                                 w.f32("decoder/position_encodings/encodings")), positions],
               name="decoder/pos_gather", axis=0)  # [seq, d]
    x = g.op("Add", [tok, pos], name="decoder/add_pos")

    # causal mask [seq, total]: key position j visible to query i iff j <= past_len + i
    kpos = g.op("Range", [g.const_i64(0), total, g.const_i64(1)], name="decoder/key_positions")
    qpos = g.op("Unsqueeze", [positions, g.const_i64([1])], name="decoder/qpos_col")  # [seq, 1]
    future = g.op("Greater", [kpos, qpos], name="decoder/future")  # [seq, total]
    mask = g.op("Where", [future, g.const_f32(-1e9), g.const_f32(0.0)], name="decoder/causal_mask")

    scale = 1.0 / math.sqrt(dh)
    align_by_layer: dict[int, list[int]] = {}
    for layer, head in alignment_heads:
        align_by_layer.setdefault(layer, []).append(head)
    align_parts: list[str] = []

    for i in range(L):
        p = f"decoder/layer_{i}"
        n = f"decoder.layer{i}"
        # --- masked self-attention with KV cache
        h = g.layer_norm(x, g.init(f"{n}.attn_ln.gamma", w.f32(f"{p}/self_attention/layer_norm/gamma")),
                         g.init(f"{n}.attn_ln.beta", w.f32(f"{p}/self_attention/layer_norm/beta")),
                         f"{p}/attn_ln")
        wqkv = w.f32(f"{p}/self_attention/linear_0/weight")
        bqkv = w.f32(f"{p}/self_attention/linear_0/bias")
        wqkv[:d] *= scale
        bqkv[:d] *= scale
        qkv = g.linear(h, g.init(f"{n}.qkv.weight_t", wqkv.T), g.init(f"{n}.qkv.bias", bqkv), f"{p}/qkv")
        q, k, v = g.op("Split", [qkv, g.const_i64([d, d, d])], n_out=3, name=f"{p}/split_qkv", axis=-1)
        q = g.split_heads(q, H, dh, f"{p}/q")
        k = g.split_heads(k, H, dh, f"{p}/k")
        v = g.split_heads(v, H, dh, f"{p}/v")
        k_all = g.op("Concat", [f"past_key.{i}", k], name=f"{p}/present_key", axis=2,
                     outputs=[f"present_key.{i}"])
        v_all = g.op("Concat", [f"past_value.{i}", v], name=f"{p}/present_value", axis=2,
                     outputs=[f"present_value.{i}"])
        ctx, _ = g.attention(q, k_all, v_all, f"{p}/self_attn", mask=mask)
        o = g.linear(g.merge_heads(ctx, d, f"{p}/self_ctx"),
                     g.init(f"{n}.self_out.weight_t", w.f32(f"{p}/self_attention/linear_1/weight").T),
                     g.init(f"{n}.self_out.bias", w.f32(f"{p}/self_attention/linear_1/bias")),
                     f"{p}/self_out")
        x = g.op("Add", [x, o], name=f"{p}/self_residual")

        # --- cross-attention on precomputed K/V
        c = f"{p}/attention"
        h = g.layer_norm(x, g.init(f"{n}.cross_ln.gamma", w.f32(f"{c}/layer_norm/gamma")),
                         g.init(f"{n}.cross_ln.beta", w.f32(f"{c}/layer_norm/beta")), f"{p}/cross_ln")
        q = g.linear(h, g.init(f"{n}.cross_q.weight_t", (w.f32(f"{c}/linear_0/weight") * scale).T),
                     g.init(f"{n}.cross_q.bias", w.f32(f"{c}/linear_0/bias") * scale), f"{p}/cross_q")
        q = g.split_heads(q, H, dh, f"{p}/cross_q")
        ctx, probs = g.attention(q, f"cross_k.{i}", f"cross_v.{i}", f"{p}/cross_attn")
        for head in align_by_layer.get(i, []):
            align_parts.append(g.op("Slice", [probs, g.const_i64([head]), g.const_i64([head + 1]),
                                              g.const_i64([1])], name=f"{p}/align_head{head}"))
        o = g.linear(g.merge_heads(ctx, d, f"{p}/cross_ctx"),
                     g.init(f"{n}.cross_out.weight_t", w.f32(f"{c}/linear_2/weight").T),
                     g.init(f"{n}.cross_out.bias", w.f32(f"{c}/linear_2/bias")), f"{p}/cross_out")
        x = g.op("Add", [x, o], name=f"{p}/cross_residual")
        x = _ffn(g, w, x, p, n)

    x = g.layer_norm(x, g.init("decoder.ln.gamma", w.f32("decoder/layer_norm/gamma")),
                     g.init("decoder.ln.beta", w.f32("decoder/layer_norm/beta")), "decoder/ln")
    g.op("MatMul", [x, emb_t], name="decoder/logits", outputs=["logits"])
    if align_parts:
        if len(align_parts) == 1:
            g.op("Identity", align_parts, name="decoder/alignment", outputs=["alignment_attention"])
        else:
            g.op("Concat", align_parts, name="decoder/alignment", outputs=["alignment_attention"], axis=1)
        g.add_output("alignment_attention", TensorProto.FLOAT,
                     ["batch", len(align_parts), "seq", "enc_frames"])
    return g.model("Whisper decoder with self-attention KV cache, from models/convert_whisper.py")


def mel_filters(sr: int = 16000, n_fft: int = 400, n_mels: int = 80) -> np.ndarray:
    """Slaney-style mel filterbank [n_mels, n_fft/2+1] (librosa defaults, as Whisper/faster-whisper use)."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)  # hz_to_mel(8000) in slaney units
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs.reshape(-1, 1) - fftfreqs.reshape(1, -1)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


def build_mel(n_mels: int) -> onnx.ModelProto:
    """Whisper log-mel front end, same arithmetic as faster-whisper's FeatureExtractor:
    pad 160 zeros, reflect-pad n_fft/2, periodic Hann STFT (n_fft 400, hop 160), |X|^2 without the
    last frame, mel filterbank, log10(max(., 1e-10)), max(x, max(x) - 8) over the whole input,
    (x + 4) / 4. audio [batch, samples] (16 kHz mono float) -> mel [batch, n_mels, samples/160 + 1]."""
    g = G("whisper_log_mel")
    n_fft, hop = 400, 160
    g.add_input("audio", TensorProto.FLOAT, ["batch", "samples"])
    g.add_output("mel", TensorProto.FLOAT, ["batch", n_mels, "frames"])
    x = g.op("Pad", ["audio", g.const_i64([0, 0, 0, hop])], name="mel/pad_hop", mode="constant")
    x = g.op("Pad", [x, g.const_i64([0, n_fft // 2, 0, n_fft // 2])], name="mel/pad_reflect", mode="reflect")
    # STFT as a strided Conv with a windowed DFT basis (onnxruntime's STFT op falls back to an
    # O(n^2) DFT for n_fft = 400 and is ~10x slower; Conv runs on the MLAS GEMM kernels)
    x = g.op("Unsqueeze", [x, g.const_i64([1])], name="mel/to_channels")  # [B, 1, L]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))  # periodic Hann
    n_bins = n_fft // 2 + 1
    ang = 2 * np.pi * np.outer(np.arange(n_bins), np.arange(n_fft)) / n_fft
    basis = np.concatenate([np.cos(ang) * window, -np.sin(ang) * window]).astype(np.float32)[:, None, :]
    spec = g.op("Conv", [x, g.init("mel.dft_basis", basis)], name="mel/stft", kernel_shape=[n_fft],
                strides=[hop])  # [B, 2*n_bins, frames]
    sq = g.op("Mul", [spec, spec], name="mel/square")
    re2, im2 = g.op("Split", [sq, g.const_i64([n_bins, n_bins])], n_out=2, name="mel/split", axis=1)
    power = g.op("Add", [re2, im2], name="mel/power")  # [B, n_bins, frames]
    power = g.op("Slice", [power, g.const_i64([0]), g.const_i64([-1]), g.const_i64([2])], name="mel/drop_last")
    mel = g.op("MatMul", [g.init("mel.filters", mel_filters(n_mels=n_mels)), power], name="mel/filters")  # [B, M, F]
    mel = g.op("Max", [mel, g.const_f32(1e-10)], name="mel/clip")
    mel = g.op("Log", [mel], name="mel/ln")
    mel = g.op("Mul", [mel, g.const_f32(1.0 / math.log(10.0))], name="mel/log10")
    top = g.op("ReduceMax", [mel], name="mel/max", axes=[1, 2], keepdims=1)  # over the whole input
    floor = g.op("Sub", [top, g.const_f32(8.0)], name="mel/floor")
    mel = g.op("Max", [mel, floor], name="mel/dyn_range")
    mel = g.op("Add", [mel, g.const_f32(4.0)], name="mel/add4")
    g.op("Mul", [mel, g.const_f32(0.25)], name="mel/div4", outputs=["mel"])
    return g.model("Whisper log-mel front end (faster-whisper compatible), from models/convert_whisper.py")


# --------------------------------------------------------------------------------------
# config / tokens
# --------------------------------------------------------------------------------------


def special_tokens(tokenizer: dict, vocab: int) -> dict:
    by_content = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    out = {}
    for key, content in (("eot", "<|endoftext|>"), ("sot", "<|startoftranscript|>"),
                         ("translate", "<|translate|>"), ("transcribe", "<|transcribe|>"),
                         ("sot_lm", "<|startoflm|>"), ("sot_prev", "<|startofprev|>"),
                         ("no_timestamps", "<|notimestamps|>")):
        out[key] = by_content.get(content)
    out["no_speech"] = by_content.get("<|nospeech|>", by_content.get("<|nocaptions|>"))
    out["timestamp_begin"] = out["no_timestamps"] + 1 if out["no_timestamps"] is not None else None
    langs = {}
    for content, tid in by_content.items():
        code = content[2:-2]
        if content.startswith("<|") and content.endswith("|>") and 2 <= len(code) <= 3 and code.isalpha():
            langs[code] = tid
        if content == "<|haw|>":
            langs["haw"] = tid
    out["languages"] = dict(sorted(langs.items(), key=lambda kv: kv[1]))
    return out


class LazyGraphs(dict):
    """Graph builders run on first access, so only one graph's weights are held at a time."""

    def __init__(self, builders):
        super().__init__(builders)

    def pop(self, name):
        return super().pop(name)()


# protobuf cannot serialize a message over 2 GiB: larger graphs keep their weights in a
# `<graph>.onnx.data` file next to the graph (onnxruntime finds it there)
EXTERNAL_DATA_BYTES = 1_800_000_000


def save_graph(m: onnx.ModelProto, path: Path) -> bool:
    """Checks and writes `m`; returns whether its weights went to an external data file."""
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    if sum(len(t.raw_data) for t in m.graph.initializer) < EXTERNAL_DATA_BYTES:
        onnx.checker.check_model(m)
        onnx.save_model(m, str(path))
        return False
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data.name, size_threshold=1024)
    onnx.checker.check_model(str(path))
    return True


def check_source(ct2_dir: Path, w: Weights, dims: Dims, tokenizer: dict) -> None:
    """Refuses what the graphs would get wrong rather than converting it."""
    emb = "decoder/embeddings/weight"
    proj = "decoder/projection/weight"
    if w.has(proj) and w.aliases.get(proj, proj) != emb and not np.array_equal(w.f32(proj), w.f32(emb)):
        raise SystemExit("unsupported: the output projection is not tied to the token embedding "
                         "(every Whisper checkpoint ties them; the decoder graph relies on it)")
    if w.has("decoder/projection/bias"):
        raise SystemExit("unsupported: the output projection has a bias")
    if dims.d % dims.dec_heads or dims.d % dims.enc_heads:
        raise SystemExit(f"d_model {dims.d} is not a multiple of the heads ({dims.enc_heads}/{dims.dec_heads})")
    pre = ct2_dir / "preprocessor_config.json"
    if pre.exists():
        feature_size = json.loads(pre.read_text()).get("feature_size", dims.n_mels)
        if feature_size != dims.n_mels:
            raise SystemExit(f"preprocessor_config.json says {feature_size} mel bins, the encoder takes {dims.n_mels}")
    ids = [t["id"] for t in tokenizer.get("added_tokens", []) if t.get("content") == "<|endoftext|>"]
    if not ids:
        raise SystemExit("tokenizer.json has no <|endoftext|> token: not a Whisper tokenizer")
    top = max(t["id"] for t in tokenizer["added_tokens"])
    if top >= dims.vocab:
        raise SystemExit(f"tokenizer.json has ids up to {top}, the model's vocabulary is {dims.vocab}")


def io_spec(model: onnx.ModelProto) -> dict:
    def vi(v):
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
        return {"name": v.name, "dtype": TensorProto.DataType.Name(t.elem_type).lower(), "shape": dims}
    return {"inputs": [vi(v) for v in model.graph.input], "outputs": [vi(v) for v in model.graph.output]}


# --------------------------------------------------------------------------------------
# self-check with onnxruntime (optional dependency)
# --------------------------------------------------------------------------------------


def self_check(out_dir: Path, dims: Dims, suffix: str = "") -> dict:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    enc = ort.InferenceSession(str(out_dir / f"encoder{suffix}.onnx"), so, providers=["CPUExecutionProvider"])
    ckv = ort.InferenceSession(str(out_dir / f"cross_kv{suffix}.onnx"), so, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(out_dir / f"decoder{suffix}.onnx"), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((1, dims.n_mels, 400)).astype(np.float32) * 0.5
    hs = enc.run(None, {"mel": mel})[0]
    assert hs.shape == (1, 200, dims.d), hs.shape
    cross = dict(zip([o.name for o in ckv.get_outputs()], ckv.run(None, {"encoder_hidden_states": hs})))
    L, H, dh = dims.dec_layers, dims.dec_heads, dims.head_dim
    ids = rng.integers(0, 50000, size=(1, 6)).astype(np.int64)
    out_names = [o.name for o in dec.get_outputs()]

    def run(tokens, past):
        feeds = {"input_ids": tokens, **cross}
        for i in range(L):
            feeds[f"past_key.{i}"] = past[2 * i]
            feeds[f"past_value.{i}"] = past[2 * i + 1]
        r = dict(zip(out_names, dec.run(None, feeds)))
        return r["logits"], [r[f"present_{kv}.{i}"] for i in range(L) for kv in ("key", "value")]

    empty = [np.zeros((1, H, 0, dh), np.float32) for _ in range(2 * L)]
    full, _ = run(ids, empty)
    # incremental: 3 tokens, then one at a time
    logits, past = run(ids[:, :3], empty)
    steps = [logits]
    for t in range(3, ids.shape[1]):
        lg, past = run(ids[:, t:t + 1], past)
        steps.append(lg)
    inc = np.concatenate(steps, axis=1)
    diff = float(np.abs(inc - full).max())
    return {"kv_cache_vs_full_max_abs_diff": diff, "logits_abs_max": float(np.abs(full).max())}


# --------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ct2-dir", required=True, type=Path, help="directory with model.bin, config.json, tokenizer.json")
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--int8", action="store_true", help="also write *.int8.onnx (onnxruntime quantize_dynamic, weights only)")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime self-check")
    args = ap.parse_args(argv)

    t0 = time.time()
    header, variables, aliases = read_ct2_model(args.ct2_dir / "model.bin")
    if header["spec"] != "WhisperSpec":
        raise SystemExit(f"not a Whisper model: spec {header['spec']}")
    ct2_config = json.loads((args.ct2_dir / "config.json").read_text())
    tokenizer = json.loads((args.ct2_dir / "tokenizer.json").read_text())
    w = Weights(variables, aliases)
    dims = Dims(w)
    print(f"[convert] {header} dims={dims.as_dict()} ({time.time() - t0:.1f}s)", flush=True)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    alignment_heads = [list(map(int, x)) for x in ct2_config.get("alignment_heads") or []]
    check_source(args.ct2_dir, w, dims, tokenizer)
    builders = {
        "encoder": lambda: build_encoder(w, dims),
        "cross_kv": lambda: build_cross_kv(w, dims),
        "decoder": lambda: build_decoder(w, dims, alignment_heads),
        "mel": lambda: build_mel(dims.n_mels),
    }
    graphs = LazyGraphs(builders)
    io = {}
    external = set()
    for name in list(graphs):
        m = graphs.pop(name)  # one graph's weights in memory at a time (large-v3: 2.5 + 3.6 GB fp32)
        path = args.out_dir / f"{name}.onnx"
        if save_graph(m, path):
            external.add(name)
        io[name] = io_spec(m)
        print(f"[convert] wrote {path} ({path.stat().st_size / 1e6:.1f} MB{' + external data' if name in external else ''}, "
              f"{len(m.graph.node)} nodes)", flush=True)
        del m

    variants = {"fp32": {k: f"{k}.onnx" for k in io}}
    if args.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        for name in ("encoder", "cross_kv", "decoder"):
            src, dst = args.out_dir / f"{name}.onnx", args.out_dir / f"{name}.int8.onnx"
            # 7-bit weights (reduce_range): without VNNI, x86 int8 kernels add pairs of u8*s8
            # products in saturating int16 (vpmaddubsw), and full-range weights overflow it. On an
            # AVX2-only EPYC base lost its apostrophes ("I didn t") and looped; 7 bits do not.
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                             per_channel=True, reduce_range=True, extra_options={"MatMulConstBOnly": True},
                             use_external_data_format=name in external)
            if dst.with_name(dst.name + ".data").exists():
                external.add(f"{name}.int8")
            print(f"[convert] wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)", flush=True)
        variants["int8"] = {k: f"{k}.int8.onnx" for k in ("encoder", "cross_kv", "decoder")}
        variants["int8"]["mel"] = "mel.onnx"

    toks = special_tokens(tokenizer, dims.vocab)
    wc = {
        "source": {"format": "ctranslate2", **header, "weight_dtypes": sorted(w.source_dtypes)},
        "dims": dims.as_dict(),
        "multilingual": dims.vocab >= 51865,
        "tokens": toks,
        "suppress_ids": ct2_config.get("suppress_ids", []),
        "suppress_ids_begin": ct2_config.get("suppress_ids_begin", []),
        # what faster-whisper suppresses with suppress_tokens=[-1]: suppress_ids + task/special tokens
        "suppress_tokens": sorted(set(ct2_config.get("suppress_ids", [])) | {
            toks[k] for k in ("transcribe", "translate", "sot", "sot_prev", "sot_lm", "no_speech")
            if toks.get(k) is not None}),
        "lang_ids": ct2_config.get("lang_ids", []),
        "alignment_heads": alignment_heads,
        "audio": {"sample_rate": 16000, "n_fft": 400, "hop_length": 160, "n_mels": dims.n_mels,
                  "chunk_seconds": 30, "n_frames": 3000},
        "graphs": variants,
        # graphs whose weights are in `<file>.data` next to them (over 1.8 GB of weights)
        "external_data": sorted(f"{g}.onnx" for g in external),
        "io": io,
        "notes": "decoder position offset = past_len (dim 2 of past_key.0); pass past tensors with "
                 "past_len=0 on the first call. q is pre-scaled by 1/sqrt(head_dim) inside the graphs.",
    }
    shutil.copyfile(args.ct2_dir / "tokenizer.json", args.out_dir / "tokenizer.json")
    if not args.no_check:
        wc["self_check"] = self_check(args.out_dir, dims)
        print(f"[convert] self-check fp32: {wc['self_check']}", flush=True)
        if args.int8:
            wc["self_check_int8"] = self_check(args.out_dir, dims, ".int8")
            print(f"[convert] self-check int8: {wc['self_check_int8']}", flush=True)
        if wc["self_check"]["kv_cache_vs_full_max_abs_diff"] > 1e-2:
            raise SystemExit("self-check failed: KV-cache decoding differs from a full pass")
    (args.out_dir / "whisper_config.json").write_text(json.dumps(wc, indent=1) + "\n")
    print(f"[convert] done in {time.time() - t0:.1f}s -> {args.out_dir}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
