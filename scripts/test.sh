#!/usr/bin/env bash
# The README's second command: the whole test suite, from a clean clone. Installs what is
# missing first (idempotent), builds the plugins and fixtures, then runs every test.
# Ends with one line of disk figures (target/, .venv/, free space), pass or fail, so a run
# close to filling the disk says so before it falls over.
set -euo pipefail
cd "$(dirname "$0")/.."
trap ./scripts/disk-report.sh EXIT
./scripts/install-deps.sh
source scripts/env.sh
./scripts/build-plugins.sh
cargo fmt --all --check
cargo test --workspace --no-fail-fast "$@"
