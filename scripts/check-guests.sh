#!/usr/bin/env bash
# Rebuilds every test guest into a temporary directory and checks that the bytes equal the committed ELF files.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bash guests/build.sh "$out" >/dev/null
status=0
for built in "$out"/*/*.elf; do
  name="$(basename "$built" .elf)"
  if cmp -s "$built" "guests/$name/$name.elf"; then
    echo "same: guests/$name/$name.elf"
  else
    echo "DIFFERENT: guests/$name/$name.elf does not match a fresh build (run guests/build.sh and commit)" >&2
    status=1
  fi
done
exit $status
