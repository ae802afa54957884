#!/usr/bin/env python3
"""Test helper for the converter's int8 path: rewrites a CTranslate2 Whisper model.bin with int8
weights the way CTranslate2's own quantizer stores them (every 2-D `*/weight` except position
encodings: per-row scale = 127 / max|row|, q = round(w * scale) as int8, plus `<name>_scale` f32;
aliases get a matching `_scale` alias). The published models are all fp16, so this is how the
int8 dequantization in convert_whisper.py is checked against ctranslate2's reading of the same file:

  models/.venv/bin/python models/make_ct2_int8.py models/whisper-tiny.en/ct2 /tmp/ct2int8
  models/.venv/bin/python models/convert_whisper.py --ct2-dir /tmp/ct2int8 --out-dir /tmp/ct2int8/onnx
  models/.venv-verify/bin/python models/verify_whisper.py --model-dir /tmp/ct2int8/onnx \
      --ct2-dir /tmp/ct2int8 --audio models/testdata/pyannote_sample.wav
"""
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_whisper import read_ct2_model  # noqa: E402

CODES = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
         np.dtype(np.float16): 4}


def _s(x: str) -> bytes:
    b = x.encode() + b"\0"
    return struct.pack("<H", len(b)) + b


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(src / f, dst / f)
    header, variables, aliases = read_ct2_model(src / "model.bin")
    out = {}
    for k, v in variables.items():
        if k.endswith("/weight") and v.ndim == 2 and "position" not in k:
            w = v.astype(np.float32)
            amax = np.abs(w).max(1)
            scale = np.where(amax > 0, 127.0 / amax, 1.0).astype(np.float32)
            out[k] = np.clip(np.round(w * scale[:, None]), -127, 127).astype(np.int8)
            out[k + "_scale"] = scale
        else:
            out[k] = v
    al = dict(aliases)
    al.update({a + "_scale": t + "_scale" for a, t in aliases.items() if t + "_scale" in out})
    with open(dst / "model.bin", "wb") as f:
        f.write(struct.pack("<I", header["binary_version"]) + _s(header["spec"])
                + struct.pack("<II", header["spec_revision"], len(out)))
        for k in sorted(out):
            a = out[k] if out[k].flags.c_contiguous else out[k].copy()  # keep 0-d scalars 0-d
            f.write(_s(k) + struct.pack("<B", a.ndim) + struct.pack(f"<{a.ndim}I", *a.shape)
                    + struct.pack("<BI", CODES[a.dtype], a.nbytes) + a.tobytes())
        f.write(struct.pack("<I", len(al)))
        for a, t in al.items():
            f.write(_s(a) + _s(t))
    print(f"wrote {dst / 'model.bin'} ({(dst / 'model.bin').stat().st_size} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
