#!/usr/bin/env python3
"""Write a random-weight Whisper model in the CTranslate2 (faster-whisper) format, in the shape of
a model the registries do not carry: large-v3 (128 mel bins, 51866-token vocabulary with
`<|yue|>`, 32 + 32 layers, d_model 1280) or large-v3-turbo (32 encoder, 4 decoder layers), or a
narrow variant with the same distinguishing features, cheap enough for the test suite.

numpy only (runs in models/.venv, so `scripts/setup.sh --tests` makes the test models without
torch or ctranslate2). Deterministic: the weights are float32 draws of numpy's PCG64 generator
(numpy is pinned) scaled and rounded to float16, so the same seed gives the same model.bin
byte for byte; the tests compare its sha256 with the one the reference token ids were recorded
on. The directory is what CTranslate2's converter writes for a Whisper checkpoint (model.bin
binary version 6, spec WhisperSpec revision 3, variables sorted by name, the output projection an
alias of the token embedding; config.json; vocabulary.json) plus the `tokenizer.json` and
`preprocessor_config.json` that published faster-whisper repositories ship. `--check-ctranslate2`
(in models/.venv-verify) rebuilds the model with `ctranslate2.specs.WhisperSpec` and its own
serializer from the same arrays and fails unless every file is byte-identical.

The tokenizer is the fetched base model's `tokenizer.json` with large-v3's special tokens:
`<|yue|>` inserted as id 50358 after the 99 older languages, the later special tokens shifted by
one, `<|nocaptions|>` renamed `<|nospeech|>` (as OpenAI's tokenizer for v3). Text tokens
(ids < 50257) and merges are unchanged, as in the real model.

Initialisation keeps greedy decoding from collapsing: linear layers ~ N(0, 1/fan_in), token
embeddings scaled so the logits have a standard deviation of ~`--logit-std` (the gap between the
two best tokens then stays far above float32 noise), decoder positions with a large spread
(`--position-std`; with tied embeddings a small one makes the model repeat its last token),
cross-attention queries scaled up so the attention is not uniform over 1500 frames (the output
then depends on the audio).

    models/.venv/bin/python models/make_random_whisper.py --shape large-v3-turbo-tiny \
        --base-dir models/whisper-base/ct2 --out DIR [--seed 0] [--check-ctranslate2]

Shapes: large-v3, large-v3-turbo (full size: float16 model.bin 3.1 / 1.6 GB), large-v3-tiny,
large-v3-turbo-tiny (d_model 64, 2 heads of 32: the test models, 10-11 MB); any field can be
overridden (--d-model, --heads, --encoder-layers, --decoder-layers, --n-mels).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

SHAPES = {
    # name: (d_model, heads, encoder layers, decoder layers, n_mels)
    "large-v3": (1280, 20, 32, 32, 128),
    "large-v3-turbo": (1280, 20, 32, 4, 128),
    "large-v3-tiny": (64, 2, 2, 2, 128),
    "large-v3-turbo-tiny": (64, 2, 8, 4, 128),
}
N_AUDIO_CTX = 1500
N_TEXT_CTX = 448
V3_VOCAB = 51866
FIRST_SHIFTED = 50358  # base: <|translate|>; large-v3: <|yue|>
ALIAS = {"decoder/projection/weight": "decoder/embeddings/weight"}


def v3_tokens(base_tokenizer: dict) -> tuple[dict, list[str], dict]:
    """large-v3's tokenizer.json, CTranslate2 vocabulary and special ids, from base's tokenizer.json."""
    tok = json.loads(json.dumps(base_tokenizer))
    added = []
    for t in tok["added_tokens"]:
        t = dict(t)
        if t["content"] == "<|nocaptions|>":
            t["content"] = "<|nospeech|>"
        if t["id"] >= FIRST_SHIFTED:
            t["id"] += 1
        added.append(t)
    added.append(dict(next(t for t in added if t["content"] == "<|su|>"), id=FIRST_SHIFTED, content="<|yue|>"))
    added.sort(key=lambda t: t["id"])
    tok["added_tokens"] = added
    ids = {t["content"]: t["id"] for t in added}
    for entry in tok.get("post_processor", {}).get("special_tokens", {}).values():
        entry["ids"] = [ids[t] for t in entry["tokens"]]
    text = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocabulary = [t for t, i in text if i < min(ids.values())]
    assert len(vocabulary) == 50257, len(vocabulary)
    by_id = {i: c for c, i in ids.items()}
    vocabulary += [by_id[i] for i in range(50257, max(ids.values()) + 1)]
    vocabulary += ["<|%.2f|>" % (i * 0.02) for i in range(V3_VOCAB - len(vocabulary))]
    assert len(vocabulary) == V3_VOCAB and vocabulary[ids["<|notimestamps|>"] + 1] == "<|0.00|>"
    return tok, vocabulary, ids


class Init:
    def __init__(self, seed: int, dtype):
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype

    def normal(self, shape, std: float, mean: float = 0.0) -> np.ndarray:
        x = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        if mean:
            x += np.float32(mean)
        return x.astype(self.dtype)


def random_weights(a, dtype) -> dict[str, np.ndarray]:
    """Every tensor of a CTranslate2 WhisperSpec, in a fixed order (the draws depend on it)."""
    r, d = Init(a.seed, dtype), a.d_model
    w: dict[str, np.ndarray] = {}

    def ln(p):
        w[f"{p}/gamma"] = r.normal((d,), 0.1, 1.0)
        w[f"{p}/beta"] = r.normal((d,), 0.1)

    def linear(p, rows, cols, gain=1.0, zero_bias=None):
        w[f"{p}/weight"] = r.normal((rows, cols), gain / math.sqrt(cols))
        b = r.normal((rows,), 0.02)
        if zero_bias is not None:
            b[zero_bias] = 0  # Whisper's key projection has no bias
        w[f"{p}/bias"] = b

    def self_attention(p):
        ln(f"{p}/self_attention/layer_norm")
        linear(f"{p}/self_attention/linear_0", 3 * d, d, zero_bias=slice(d, 2 * d))
        linear(f"{p}/self_attention/linear_1", d, d, gain=a.residual_gain)

    def ffn(p):
        ln(f"{p}/ffn/layer_norm")
        linear(f"{p}/ffn/linear_0", 4 * d, d)
        linear(f"{p}/ffn/linear_1", d, 4 * d, gain=a.residual_gain)

    w["encoder/conv1/weight"] = r.normal((d, a.n_mels, 3), 1.0 / math.sqrt(3 * a.n_mels))
    w["encoder/conv1/bias"] = r.normal((d,), 0.02)
    w["encoder/conv2/weight"] = r.normal((d, d, 3), 1.0 / math.sqrt(3 * d))
    w["encoder/conv2/bias"] = r.normal((d,), 0.02)
    w["encoder/position_encodings/encodings"] = r.normal((N_AUDIO_CTX, d), 0.5)
    for i in range(a.encoder_layers):
        self_attention(f"encoder/layer_{i}")
        ffn(f"encoder/layer_{i}")
    ln("encoder/layer_norm")
    w["decoder/embeddings/weight"] = r.normal((V3_VOCAB, d), a.logit_std / math.sqrt(d))
    w["decoder/position_encodings/encodings"] = r.normal((N_TEXT_CTX, d), a.position_std)
    for i in range(a.decoder_layers):
        p = f"decoder/layer_{i}"
        self_attention(p)
        ln(f"{p}/attention/layer_norm")
        linear(f"{p}/attention/linear_0", d, d, gain=a.cross_query_gain)  # sharper cross-attention
        linear(f"{p}/attention/linear_1", 2 * d, d, zero_bias=slice(0, d))
        linear(f"{p}/attention/linear_2", d, d, gain=a.residual_gain)
        ffn(p)
    ln("decoder/layer_norm")
    # WhisperSpec's scalars, as CTranslate2 stores them
    w["encoder/num_heads"] = np.int16(a.heads)
    w["decoder/num_heads"] = np.int16(a.heads)
    w["decoder/pre_norm"] = np.int8(1)
    w["decoder/activation"] = np.int8(3)  # GELU
    w["decoder/alignment_layer"] = np.int16(-1)
    w["decoder/alignment_heads"] = np.int16(1)
    for flag in ("scale_embeddings", "alibi", "alibi_use_positive_positions", "scale_alibi",
                 "start_from_zero_embedding"):
        w[f"decoder/{flag}"] = np.int8(0)
    return w


_TYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
             np.dtype(np.float16): 4}


def write_model_bin(path: Path, weights: dict[str, np.ndarray]) -> None:
    """CTranslate2 model.bin, binary version 6 (the layout convert_whisper.py reads)."""
    def string(f, s: str):
        f.write(struct.pack("<H", len(s) + 1) + s.encode() + b"\0")

    with open(path, "wb") as f:
        f.write(struct.pack("<I", 6))
        string(f, "WhisperSpec")
        f.write(struct.pack("<II", 3, len(weights)))
        for name in sorted(weights):
            v = np.asarray(weights[name])
            string(f, name)
            f.write(struct.pack("<B", v.ndim) + b"".join(struct.pack("<I", n) for n in v.shape))
            f.write(struct.pack("<BI", _TYPE_IDS[v.dtype], v.nbytes))
            f.write(np.ascontiguousarray(v).tobytes())
        f.write(struct.pack("<I", len(ALIAS)))
        for alias, target in ALIAS.items():
            string(f, alias)
            string(f, target)


def ct2_config(a, base_config: dict, ids: dict) -> dict:
    L = a.decoder_layers
    return {
        "alignment_heads": [[L // 2, 0], [L - 1, a.heads - 1]],
        "lang_ids": sorted(i for i in ids.values() if 50258 < i <= FIRST_SHIFTED),
        # Whisper's non-speech symbols, with v3's special ids
        "suppress_ids": [i + 1 if i >= FIRST_SHIFTED else i for i in base_config["suppress_ids"]],
        "suppress_ids_begin": [220, ids["<|endoftext|>"]],
    }


def check_with_ctranslate2(a, weights: dict, config: dict, vocabulary: list[str], out: Path) -> None:
    """CTranslate2's own spec + serializer on the same arrays must give identical files."""
    from ctranslate2.specs import model_spec, whisper_spec

    spec = whisper_spec.WhisperSpec(a.encoder_layers, a.heads, a.decoder_layers, a.heads)

    def fill(layer, name, value):
        if name in weights and not np.isscalar(weights[name]) and np.ndim(weights[name]) > 0:
            setattr(layer, name.rsplit("/", 1)[-1], weights[name])

    model_spec.visit_spec(spec, fill)
    spec.decoder.projection.weight = weights["decoder/embeddings/weight"]
    for k, v in config.items():
        setattr(spec.config, k, v)
    spec.register_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization=None)
    with tempfile.TemporaryDirectory() as tmp:
        spec.save(tmp)
        for f in ("model.bin", "config.json", "vocabulary.json"):
            same = (Path(tmp) / f).read_bytes() == (out / f).read_bytes()
            print(f"[random-whisper] ctranslate2 writes the same {f}: {same}")
            if not same:
                raise SystemExit(f"{f} differs from ctranslate2's")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--base-dir", type=Path, required=True,
                    help="the fetched multilingual base's CTranslate2 directory (models/whisper-base/ct2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--float32", action="store_true", help="float32 weights (default float16, as published)")
    ap.add_argument("--logit-std", type=float, default=8.0)
    ap.add_argument("--cross-query-gain", type=float, default=4.0)
    ap.add_argument("--residual-gain", type=float, default=1.0)
    ap.add_argument("--position-std", type=float, default=4.0)
    ap.add_argument("--check-ctranslate2", action="store_true")
    for f in ("d-model", "heads", "encoder-layers", "decoder-layers", "n-mels"):
        ap.add_argument(f"--{f}", type=int)
    a = ap.parse_args(argv)
    for k, v in zip(("d_model", "heads", "encoder_layers", "decoder_layers", "n_mels"), SHAPES[a.shape]):
        if getattr(a, k) is None:
            setattr(a, k, v)
    tokenizer, vocabulary, ids = v3_tokens(json.loads((a.base_dir / "tokenizer.json").read_text()))
    config = ct2_config(a, json.loads((a.base_dir / "config.json").read_text()), ids)
    weights = random_weights(a, np.float32 if a.float32 else np.float16)

    a.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=a.out.parent) as tmp:
        staged = Path(tmp) / "model"
        staged.mkdir()
        write_model_bin(staged / "model.bin", weights)
        with open(staged / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
        with open(staged / "vocabulary.json", "w", encoding="utf-8") as f:
            json.dump(vocabulary, f, indent=2)
        (staged / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False) + "\n")
        (staged / "preprocessor_config.json").write_text(json.dumps({
            "chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor",
            "feature_size": a.n_mels, "hop_length": 160, "n_fft": 400, "n_samples": 480000,
            "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
            "processor_class": "WhisperProcessor", "return_attention_mask": False, "sampling_rate": 16000,
        }, indent=2) + "\n")
        if a.check_ctranslate2:
            check_with_ctranslate2(a, weights, config, vocabulary, staged)
        if a.out.exists():
            shutil.rmtree(a.out)
        shutil.move(str(staged), a.out)
    sha = hashlib.sha256((a.out / "model.bin").read_bytes()).hexdigest()
    size = sum(p.stat().st_size for p in a.out.iterdir())
    print(f"[random-whisper] {a.shape}: d={a.d_model} heads={a.heads} layers={a.encoder_layers}/{a.decoder_layers} "
          f"n_mels={a.n_mels} vocab={V3_VOCAB} seed={a.seed} -> {a.out} ({size / 1e6:.1f} MB, model.bin sha256 {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
