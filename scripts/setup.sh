#!/usr/bin/env bash
# The README's first command: installs what this machine lacks, builds maia and its
# bundled plugins, and runs the demo. Safe to run again; finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
source scripts/env.sh
printf '\033[1m[maia setup]\033[0m building maia (first build takes several minutes)\n'
# maia-program-worker runs experiment programs beside maia (crates/program).
cargo build --release -p maia-tui -p maia-program
./scripts/build-plugins.sh --examples-only
printf '\033[1m[maia setup]\033[0m running: maia demo\n\n'
exec ./target/release/maia demo "$@"
