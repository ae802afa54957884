#!/usr/bin/env python3
"""Write models/manifest.json: every fetched/converted file (path, sha256, size), where it came
from (package, version, wheel sha256, license) and the ONNX graphs' input/output names and shapes.
Called by fetch.sh; sources of earlier runs (e.g. another --asr) are kept while their files exist.

  write_manifest.py --models-dir models --asr tiny.en --source "pkg==ver|wheel|sha|license|prefix/" ...
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from pathlib import Path

import onnx
from onnx import TensorProto

ARTIFACT_DIRS = ("lib", "vad", "speaker", "segmentation", "testdata")
SKIP_NAMES = {".converted"}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def onnx_io(path: Path) -> dict:
    m = onnx.load(str(path), load_external_data=False)

    def vi(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": TensorProto.DataType.Name(t.elem_type).lower(),
                "shape": [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]}
    init = {i.name for i in m.graph.initializer}
    return {"opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
            "inputs": [vi(v) for v in m.graph.input if v.name not in init],
            "outputs": [vi(v) for v in m.graph.output]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", type=Path, required=True)
    ap.add_argument("--asr", required=True)
    ap.add_argument("--source", action="append", default=[])
    args = ap.parse_args()
    root = args.models_dir.resolve()
    out = root / "manifest.json"
    old = json.loads(out.read_text()) if out.exists() else {}

    sources = {s["prefix"]: s for s in old.get("sources", [])}
    for spec in args.source:
        pkgs, wheels, shas, lic, prefix = spec.split("|")
        sources[prefix] = {
            "prefix": prefix,
            "packages": [{"requirement": p, "wheel": w, "wheel_sha256": s}
                         for p, w, s in zip(pkgs.split("+"), wheels.split("+"), shas.split("+"))],
            # "crates.io NAME-VERSION": a .crate from crates.io; anything else is a PyPI wheel.
            "registry": "crates.io" if pkgs.startswith("crates.io ") else "PyPI",
            "license": lic,
        }
    sources = {k: v for k, v in sources.items() if (root / k).exists()}

    dirs = [root / d for d in ARTIFACT_DIRS] + sorted(root.glob("whisper-*")) + sorted(root.glob("llm-*"))
    # sha256 of a file whose size and mtime are unchanged since the last manifest is reused
    # (the LLM directories hold GB-sized GGUF / external-data files)
    known = {f["path"]: f for f in old.get("files", []) if "mtime_ns" in f}
    files, graphs = [], {}
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if not p.is_file() or p.is_symlink() or p.name in SKIP_NAMES or p.name.endswith(".tmp"):
                continue
            rel = p.relative_to(root).as_posix()
            st = p.stat()
            k = known.get(rel)
            digest = k["sha256"] if k and k["size"] == st.st_size and k["mtime_ns"] == st.st_mtime_ns else sha256(p)
            files.append({"path": rel, "sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
            if p.suffix == ".onnx":
                graphs[rel] = onnx_io(p)
    whisper = {}
    for cfg in sorted(root.glob("whisper-*/whisper_config.json")):
        c = json.loads(cfg.read_text())
        whisper[cfg.parent.name] = {k: c.get(k) for k in ("source", "dims", "multilingual", "tokens", "graphs",
                                                          "self_check")}
    llm = {}
    for cfg in sorted(root.glob("llm-*/llm_config.json")):
        c = json.loads(cfg.read_text())
        llm[cfg.parent.name] = {k: c.get(k) for k in ("name", "source", "architecture", "n_layers", "n_heads",
                                                      "n_kv_heads", "head_dim", "vocab_size", "context_length",
                                                      "eos_token_ids", "graphs", "self_check")}
    manifest = {
        "generated_by": "models/fetch.sh",
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "last_asr": args.asr,
        "onnxruntime_library": "lib/libonnxruntime.so.1.31.1",
        "sources": sorted(sources.values(), key=lambda s: s["prefix"]),
        "files": files,
        "onnx_io": graphs,
        "whisper": whisper,
        "llm": llm,
    }
    out.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"[fetch] wrote {out} ({len(files)} files, {len(graphs)} ONNX graphs)")


if __name__ == "__main__":
    main()
