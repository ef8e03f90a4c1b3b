#!/usr/bin/env bash
# One line of disk figures for the build: sizes of target/ and .venv/ and the free space
# on their disk, with a warning under 25 GiB free (a clean-clone CI run needs ~10 GB).
# Usage: scripts/disk-report.sh
set -uo pipefail
cd "$(dirname "$0")/.."
size() { if [[ -e $1 ]]; then du -sh "$1" 2>/dev/null | cut -f1; else echo "none"; fi; }
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
free_gib=$((free_kib / 1024 / 1024))
line="[maia disk] target/ $(size "${CARGO_TARGET_DIR:-target}"), .venv/ $(size "${MAIA_VENV:-.venv}"), ${free_gib} GiB free"
if ((free_gib < 25)); then
    line+=" - LOW: run 'cargo clean' or remove old runs before the next build"
fi
echo "$line" >&2
