#!/usr/bin/env bash
# Everything a fresh machine needs before `cargo run` or `cargo test`, in one idempotent step:
#
#   scripts/setup.sh            system packages for the server (libopus), then models/fetch.sh
#   scripts/setup.sh --tests    also what the tests drive: Debian's chromium (real-browser test),
#                               a Hangul font for it (its Korean screenshots), and the random-weight
#                               large-v3-shaped Whisper models (models/fetch.sh --test-models)
#
# Other arguments go to models/fetch.sh (e.g. --llm qwen1.5b). System packages are installed with
# apt-get when running as root or with password-less sudo; otherwise the missing ones are listed
# and the script stops, so a test never fails later for a reason found here.
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=0
FETCH_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --tests) TESTS=1; FETCH_ARGS+=(--test-models) ;;
    *) FETCH_ARGS+=("$arg") ;;
  esac
done

missing=()
# libopus: Opus decoding links it (without it the bundled source is built, which needs cmake).
pkg-config --exists opus 2>/dev/null || missing+=(libopus-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ "$TESTS" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  fc-list :lang=ko 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then apt=(apt-get); elif sudo -n true 2>/dev/null; then apt=(sudo apt-get); else apt=(); fi
  if [ "${#apt[@]}" = 0 ] || ! command -v apt-get >/dev/null; then
    echo "[setup] please install: ${missing[*]} (Debian/Ubuntu package names), then run this again" >&2
    exit 1
  fi
  echo "[setup] installing ${missing[*]}" >&2
  "${apt[@]}" install -y -q "${missing[@]}" || { "${apt[@]}" update -q && "${apt[@]}" install -y -q "${missing[@]}"; }
fi

exec bash models/fetch.sh ${FETCH_ARGS[@]+"${FETCH_ARGS[@]}"}
