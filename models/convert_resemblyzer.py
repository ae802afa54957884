#!/usr/bin/env python3
"""Convert Resemblyzer's GE2E speaker encoder (`resemblyzer/pretrained.pt` of the PyPI wheel
Resemblyzer==0.1.4, Apache-2.0) to ONNX without torch:

  resemblyzer.onnx   mels [batch, frames, 40] float32 (mel *power* spectrogram, no log; see
                     make_speaker_fixture.py / src/inference/diarize/speaker_mel.rs)
                     -> embedding [batch, 256] float32 (L2-normalised, every component >= 0)

The network (resemblyzer/voice_encoder.py `VoiceEncoder.forward`): a 3-layer unidirectional
`nn.LSTM(40, 256, 3, batch_first=True)`, the last layer's final hidden state h_T, then
`relu(Linear(256, 256)(h_T))`, divided by its L2 norm. Batch and frames are dynamic; Resemblyzer
feeds windows of 160 frames (1.6 s).

Checkpoint reader (no torch): `pretrained.pt` is torch's *legacy* serialization (torch < 1.6,
not a zip): pickle(magic 0x1950a86a20f9469cfc6c), pickle(protocol 1001), pickle(sys_info), the
pickled object whose tensors refer to storages by persistent id
('storage', <torch.FloatStorage>, key, location, numel, view), pickle(list of storage keys), then
for each key: int64 element count + raw little-endian data. The newer zip format (data.pkl +
data/<key>) is read too. Unpickling only resolves a small whitelist of globals
(collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.*Storage);
anything else is an error, so no code from the file runs.

ONNX: opset 17, IR 9, standard ops only: Transpose -> 3 x (LSTM -> Squeeze) -> MatMul/Add ->
Relu -> ReduceL2 -> Div. PyTorch's gate order (i, f, g, o) is reordered to ONNX's (i, o, f, c);
bias_ih / bias_hh become Wb / Rb (B = [Wb, Rb]).

Self-check (unless --no-check): onnxruntime against a float64 numpy re-implementation of the
PyTorch forward (`reference_embed`) on random input, several batch sizes and lengths; the max
abs diff is printed and must be < 1e-4.

Usage: convert_resemblyzer.py --checkpoint {pretrained.pt|Resemblyzer-0.1.4-py3-none-any.whl}
                             --out speaker/resemblyzer.onnx [--no-check]
The numpy reference is imported by make_speaker_fixture.py (this module imports onnx lazily).
"""
from __future__ import annotations

import argparse
import collections
import io
import pickle
import struct
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

OPSET = 17
IR_VERSION = 9  # readable by any onnxruntime >= 1.15

N_MELS = 40
HIDDEN = 256
EMBED = 256
LAYERS = 3
PARTIAL_FRAMES = 160
WHEEL_MEMBER = "resemblyzer/pretrained.pt"

# --------------------------------------------------------------------------------------
# torch checkpoint reader (no torch)
# --------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


class _Storage:
    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype, self.numel, self.data = dtype, numel, None


class _TensorRef:
    """A tensor whose storage may be read after the pickle (legacy format)."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        assert data is not None, "storage never read"
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride))
        return np.array(view, dtype=data.dtype.newbyteorder("="))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages: dict, load_storage=None):
        super().__init__(f)
        self.storages, self.load_storage = storages, load_storage

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        view = pid[5] if len(pid) > 5 else None
        if view is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            st = _Storage(storage_type.dtype, numel)
            if self.load_storage is not None:
                st.data = self.load_storage(key, st.dtype)
            self.storages[key] = st
        return self.storages[key]


def _materialize(obj):
    if isinstance(obj, _TensorRef):
        return obj.materialize()
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def read_checkpoint_bytes(path: Path) -> bytes:
    """The checkpoint file itself, or `resemblyzer/pretrained.pt` inside a wheel (.whl)."""
    path = Path(path)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            return zf.read(WHEEL_MEMBER)
    return path.read_bytes()


def load_checkpoint(path: Path):
    """The checkpoint's object with every tensor as a numpy array (`path`: .pt or the wheel)."""
    raw = read_checkpoint_bytes(path)
    if raw[:4] == b"PK\x03\x04":
        zf = zipfile.ZipFile(io.BytesIO(raw))
        names = zf.namelist()
        pkl = next(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
        prefix = pkl[: -len("data.pkl")]
        if f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder") != b"little":
            raise ValueError("big-endian checkpoint")

        def load_storage(key, dtype):
            return np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=dtype)

        obj = _Unpickler(io.BytesIO(zf.read(pkl)), {}, load_storage).load()
        return _materialize(obj)

    f = io.BytesIO(raw)
    safe = lambda: _Unpickler(f, {}).load()  # noqa: E731 - plain data only (ints, dicts, lists)
    if safe() != _LEGACY_MAGIC:
        raise ValueError(f"{path}: neither a zip nor a legacy torch checkpoint")
    protocol = safe()
    if protocol != 1001:
        raise ValueError(f"unsupported legacy protocol {protocol}")
    sys_info = safe()
    if not sys_info.get("little_endian", True):
        raise ValueError("big-endian checkpoint")
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(f, storages).load()
    keys = safe()
    for key in keys:
        st = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        assert numel == st.numel, (key, numel, st.numel)
        nbytes = numel * st.dtype.itemsize
        st.data = np.frombuffer(f.read(nbytes), dtype=st.dtype, count=numel)
    return _materialize(obj)


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """`model_state` of the checkpoint, checked against the architecture above."""
    ckpt = load_checkpoint(path)
    state = ckpt["model_state"] if "model_state" in ckpt else ckpt
    want = {"linear.weight": (EMBED, HIDDEN), "linear.bias": (EMBED,)}
    for k in range(LAYERS):
        want[f"lstm.weight_ih_l{k}"] = (4 * HIDDEN, N_MELS if k == 0 else HIDDEN)
        want[f"lstm.weight_hh_l{k}"] = (4 * HIDDEN, HIDDEN)
        want[f"lstm.bias_ih_l{k}"] = (4 * HIDDEN,)
        want[f"lstm.bias_hh_l{k}"] = (4 * HIDDEN,)
    for name, shape in want.items():
        if name not in state:
            raise ValueError(f"{path}: missing {name} (has {sorted(state)})")
        if tuple(state[name].shape) != shape or state[name].dtype != np.float32:
            raise ValueError(f"{name}: {state[name].dtype} {state[name].shape}, expected float32 {shape}")
    if ckpt.get("step") is not None:
        print(f"[convert] checkpoint step {ckpt['step']}", file=sys.stderr)
    return {k: np.asarray(state[k]) for k in want}


# --------------------------------------------------------------------------------------
# numpy reference of VoiceEncoder.forward (float64)
# --------------------------------------------------------------------------------------

def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def reference_embed(w: dict[str, np.ndarray], mels: np.ndarray) -> np.ndarray:
    """mels [batch, frames, 40] -> embedding [batch, 256], float64, exactly torch.nn.LSTM
    (gates i, f, g, o; c' = f c + i g; h' = o tanh(c')) then relu(linear) / L2 norm."""
    x = np.asarray(mels, dtype=np.float64)
    batch, frames, _ = x.shape
    h = np.zeros((batch, HIDDEN))
    for k in range(LAYERS):
        wi = w[f"lstm.weight_ih_l{k}"].astype(np.float64)
        wh = w[f"lstm.weight_hh_l{k}"].astype(np.float64)
        b = w[f"lstm.bias_ih_l{k}"].astype(np.float64) + w[f"lstm.bias_hh_l{k}"].astype(np.float64)
        xi = x @ wi.T + b  # [batch, frames, 4H]
        h = np.zeros((batch, HIDDEN))
        c = np.zeros((batch, HIDDEN))
        ys = np.empty((batch, frames, HIDDEN))
        for t in range(frames):
            z = xi[:, t] + h @ wh.T
            i, f, g, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            ys[:, t] = h
        x = ys
    raw = np.maximum(h @ w["linear.weight"].astype(np.float64).T + w["linear.bias"].astype(np.float64), 0.0)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


# --------------------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------------------

def _onnx_gates(m: np.ndarray) -> np.ndarray:
    """PyTorch gate blocks (i, f, g, o) along axis 0 -> ONNX order (i, o, f, c)."""
    i, f, g, o = np.split(m, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def build_model(w: dict[str, np.ndarray], source: str):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    axes0 = const("axes_0", np.array([0], dtype=np.int64))
    axes1 = const("axes_1", np.array([1], dtype=np.int64))
    nodes.append(helper.make_node("Transpose", ["mels"], ["x_tbc"], perm=[1, 0, 2], name="to_time_major"))
    x = "x_tbc"
    for k in range(LAYERS):
        wk = const(f"lstm{k}.W", _onnx_gates(w[f"lstm.weight_ih_l{k}"])[None])
        rk = const(f"lstm{k}.R", _onnx_gates(w[f"lstm.weight_hh_l{k}"])[None])
        bk = const(f"lstm{k}.B", np.concatenate([_onnx_gates(w[f"lstm.bias_ih_l{k}"]),
                                                   _onnx_gates(w[f"lstm.bias_hh_l{k}"])])[None])
        last = k == LAYERS - 1
        y = "" if last else f"lstm{k}.Y"
        nodes.append(helper.make_node("LSTM", [x, wk, rk, bk], [y, f"lstm{k}.Y_h"], hidden_size=HIDDEN,
                                      direction="forward", name=f"lstm{k}"))
        if not last:
            # Y [frames, 1, batch, H] -> next layer's input [frames, batch, H]
            nodes.append(helper.make_node("Squeeze", [y, axes1], [f"lstm{k}.out"], name=f"lstm{k}.squeeze"))
            x = f"lstm{k}.out"
    nodes += [
        helper.make_node("Squeeze", [f"lstm{LAYERS - 1}.Y_h", axes0], ["hidden"], name="last_hidden"),
        helper.make_node("MatMul", ["hidden", const("linear.weight_t", w["linear.weight"].T)], ["lin_mm"],
                         name="linear"),
        helper.make_node("Add", ["lin_mm", const("linear.bias", w["linear.bias"])], ["lin"], name="linear.bias"),
        helper.make_node("Relu", ["lin"], ["embeds_raw"], name="relu"),
        helper.make_node("ReduceL2", ["embeds_raw"], ["norm"], axes=[1], keepdims=1, name="norm"),
        helper.make_node("Div", ["embeds_raw", "norm"], ["embedding"], name="l2_normalise"),
    ]
    graph = helper.make_graph(
        nodes, "resemblyzer_voice_encoder",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["batch", "frames", N_MELS])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBED])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="ddalkkak models/convert_resemblyzer.py")
    m.ir_version = IR_VERSION
    meta = {
        "source": source, "license": "Apache-2.0", "sampling_rate": "16000", "n_fft": "400", "hop_length": "160",
        "n_mels": str(N_MELS), "mel": "librosa.feature.melspectrogram power=2, slaney mel, no log",
        "partials_n_frames": str(PARTIAL_FRAMES), "embedding_size": str(EMBED),
    }
    for k, v in meta.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(m)
    return m


def self_check(model_path: Path, w: dict[str, np.ndarray]) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch, frames in [(1, PARTIAL_FRAMES), (4, PARTIAL_FRAMES), (2, 37), (3, 1)]:
        # Mel power values: non-negative, heavy-tailed (silence ~1e-6, speech up to ~10).
        mels = (rng.exponential(1.0, (batch, frames, N_MELS)) ** 2 * rng.choice([1e-4, 1e-2, 1.0], (batch, 1, 1)))
        mels = mels.astype(np.float32)
        got = sess.run(["embedding"], {"mels": mels})[0]
        want = reference_embed(w, mels)
        diff = float(np.abs(got - want).max())
        worst = max(worst, diff)
        print(f"[convert] self-check batch {batch} frames {frames}: max abs diff {diff:.2e} "
              f"(norm {np.linalg.norm(got, axis=1).round(6).tolist()})")
    # A batch gives the same rows as one window at a time.
    mels = rng.exponential(1.0, (3, PARTIAL_FRAMES, N_MELS)).astype(np.float32)
    batched = sess.run(["embedding"], {"mels": mels})[0]
    single = np.concatenate([sess.run(["embedding"], {"mels": mels[i:i + 1]})[0] for i in range(3)])
    print(f"[convert] batch vs single max abs diff {float(np.abs(batched - single).max()):.2e}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, type=Path,
                    help="resemblyzer/pretrained.pt, or the Resemblyzer wheel (.whl) that holds it")
    ap.add_argument("--out", required=True, type=Path, help="output .onnx path")
    ap.add_argument("--source", default="PyPI Resemblyzer==0.1.4 resemblyzer/pretrained.pt")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime self-check")
    args = ap.parse_args()

    import onnx

    t0 = time.time()
    w = load_weights(args.checkpoint)
    model = build_model(w, args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(args.out)
    print(f"[convert] wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {len(model.graph.node)} nodes)")
    if not args.no_check:
        worst = self_check(args.out, w)
        print(f"[convert] self-check vs numpy float64 reference: max abs diff {worst:.2e}")
        if not worst < 1e-4:
            args.out.unlink()
            sys.exit(f"[convert] self-check failed: {worst} >= 1e-4")
    print(f"[convert] done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
