#!/usr/bin/env bash
# Synthesizes the English keyterm sets with espeak-ng, a different voice per sentence, as WAV
# beside the TSVs: `bash benches/keyterms/make_english.sh` (needs `espeak-ng`; on Debian
# `apt-get install espeak-ng`). The audio is not tracked: this script makes it again.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "needs espeak-ng (apt-get install espeak-ng)" >&2; exit 1; }
for set in english_dev.tsv english_heldout.tsv; do
  tail -n +2 "$set" | while IFS=$'\t' read -r path text _language _terms voice; do
    espeak-ng -v "$voice" -s 150 -w "$path" "$text"
  done
done
echo "wrote $(ls ./*.wav | wc -l) clips"
