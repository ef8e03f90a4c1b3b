#!/usr/bin/env bash
# The program-mode benchmark (issue 20): the synthetic suite with the offline agent in
# tool mode and in program mode, side by side — rounds, tokens and seconds per unit, and
# the mean scores, which must not drop — then the cost of one tool call made from a
# program (crates/program/benches/overhead.rs: through the worker, monty in-process, a
# bare pipe round trip to `cat`, and a direct call).
#
#   scripts/bench_programs.sh            # 60 units
#   MAIA_BENCH_N=12 scripts/bench_programs.sh
#
# Each suite is a fresh eval under $MAIA_BENCH_DIR (default target/bench-programs), so the
# two modes run the same units on the same data and scorer.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

N="${MAIA_BENCH_N:-60}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
WORK="${MAIA_BENCH_DIR:-$TARGET_DIR/bench-programs}"
PY="$VIRTUAL_ENV/bin/python"

say() { printf '\033[1m[bench programs]\033[0m %s\n' "$*" >&2; }

say "building maia and its program worker (release)"
cargo build --release -q -p maia-tui -p maia-program
./scripts/build-plugins.sh >/dev/null
MAIA="$TARGET_DIR/release/maia"
rm -rf "$WORK" && mkdir -p "$WORK"

for mode in tools program; do
  say "eval synthetic: $N units, offline agent, $mode mode"
  "$MAIA" eval synthetic --n "$N" --mode "$mode" --id "$mode" --eval-dir "$WORK" >"$WORK/$mode.log" 2>&1
done

"$PY" - "$WORK" <<'PY'
import json, statistics as st, sys
work = sys.argv[1]
print(f"{'mode':<8} {'units':>5} {'rounds':>7} {'tokens':>8} {'s/unit':>7} {'pearson':>8} {'truth IoU':>9}")
rows = {}
for mode in ("tools", "program"):
    lines = [json.loads(l) for l in open(f"{work}/{mode}/results.jsonl")]
    agent = [l for l in lines if l["method"] == "agent"]
    mean = lambda xs: st.mean(xs) if xs else float("nan")
    rows[mode] = r = {
        "rounds": mean([l["rounds"] for l in agent]),
        "tokens": mean([l["tokens"] for l in agent]),
        "seconds": mean([l["seconds"] for l in agent]),
        "pearson": mean([l["score"].get("pearson") or 0.0 for l in agent]),
        "iou": mean([(l.get("truth") or {}).get("iou", 0.0) for l in agent]),
    }
    print(f"{mode:<8} {len(agent):>5} {r['rounds']:>7.2f} {r['tokens']:>8.0f} {r['seconds']:>7.2f} {r['pearson']:>8.3f} {r['iou']:>9.3f}")
t, p = rows["tools"], rows["program"]
print(f"program / tools: rounds {p['rounds'] / t['rounds']:.2f}x, tokens {p['tokens'] / t['tokens']:.2f}x, "
      f"seconds {p['seconds'] / t['seconds']:.2f}x, pearson {p['pearson'] - t['pearson']:+.3f}")
PY

say "tool-call overhead inside a program"
cargo bench -q -p maia-program --bench overhead 2>/dev/null | tail -5
