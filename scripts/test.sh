#!/usr/bin/env bash
# The README's second command: the whole test suite, from a clean clone. Installs what is
# missing first (idempotent), builds the plugins and fixtures, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
source scripts/env.sh
./scripts/build-plugins.sh
cargo fmt --all --check
cargo test --workspace --no-fail-fast "$@"
