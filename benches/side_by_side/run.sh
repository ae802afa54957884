#!/usr/bin/env bash
# Side-by-side benchmark, one command: DdalKkak vs faster-whisper (file transcription) and vs
# WhisperLive (live streams), same CTranslate2 weights, same recording, same latency definitions.
#
#   bash benches/side_by_side/run.sh                          # the full run (N = 1,2,4,8)
#   bash benches/side_by_side/run.sh --streams 1,2 --seconds 15 --loops 1 --file-repeats 1   # a quick look
#
# Every other flag goes to bench.py (`--help`). Results: ${CARGO_TARGET_DIR:-target}/bench/side_by_side/
# {results.json,table.md,p95_final_latency.png}. Needs python3 (3.11+, for the pinned wheels), a Rust toolchain and PyPI;
# fetches the models (models/fetch.sh) if they are missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
MODELS="${DDALKKAK_MODELS_DIR:-$REPO/models}"
OUT="$TARGET/bench/side_by_side"
VENV="$REPO/models/.venv-bench"
PYTHON="${PYTHON:-python3}"
log() { echo "[run.sh] $*" >&2; }

# Models: the ONNX graphs we serve and the CTranslate2 weights they were converted from.
if [ ! -f "$MODELS/whisper-tiny.en/ct2/model.bin" ] || [ ! -f "$MODELS/whisper-tiny.en/encoder.int8.onnx" ] \
  || [ ! -f "$MODELS/testdata/pyannote_sample.wav" ]; then
  log "models missing in $MODELS: running models/fetch.sh"
  bash "$REPO/models/fetch.sh"
fi

# The venv: exactly the pinned set, no dependency resolution (see requirements.txt).
REQ_SHA="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQ_SHA" ]; then
  log "creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -r "$HERE/requirements.txt"
  echo "$REQ_SHA" > "$VENV/.requirements.sha256"
fi

log "building the release binary"
(cd "$REPO" && cargo build --release --locked --bin ddalkkak)

mkdir -p "$OUT"
# A copy: a build in another checkout sharing this target dir must not swap the binary mid-run.
cp "$TARGET/release/ddalkkak" "$OUT/ddalkkak.bin"
cd "$HERE"
exec "$VENV/bin/python" bench.py --ddalkkak "$OUT/ddalkkak.bin" --models-dir "$MODELS" --out "$OUT" "$@"
