#!/usr/bin/env bash
# The exemplar-pass benchmark: maia against a plain PyTorch script doing the same job
# (benches/exemplars_peer.py: the same TorchScript file, a DataLoader with workers, a
# running top-k per unit), in one invocation, on the same freshly generated dataset.
#
#   scripts/bench_exemplars.sh                 # 5,000 shapes images, world CNN, conv4, CPU
#   MAIA_BENCH_N=1000 MAIA_BENCH_LAYER=conv2 scripts/bench_exemplars.sh
#   MAIA_BENCH_DEVICE=cuda:0 scripts/bench_exemplars.sh   # both sides on the GPU
#
# Steps: release build of maia; `maia world dataset` (kept between runs); `maia world
# train-cnn` (trained once, then served from maia's cache); then, $MAIA_BENCH_RUNS times in
# turn (the best run of each counts): maia with --no-cache; the peer as one would first
# write it (DataLoader workers = cores, libtorch's default threads); the peer tuned (one
# libtorch thread, so workers and the model do not fight over the cores). Prints images/s,
# the ratios (target: maia >= 1.5x the peer), and whether the top-k agree.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

N="${MAIA_BENCH_N:-5000}"
LAYER="${MAIA_BENCH_LAYER:-conv4}"
DEVICE="${MAIA_BENCH_DEVICE:-cpu}"
RUNS="${MAIA_BENCH_RUNS:-2}"
K="${MAIA_BENCH_K:-15}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
WORK="${MAIA_BENCH_DIR:-$TARGET_DIR/bench-exemplars}"
CORES="$(nproc)"
WORKERS="${MAIA_BENCH_PEER_WORKERS:-$CORES}"
PY="$VIRTUAL_ENV/bin/python"

say() { printf '\033[1m[bench exemplars]\033[0m %s\n' "$*" >&2; }

say "building maia (release)"
cargo build --release -q -p maia-tui
MAIA="$TARGET_DIR/release/maia"
mkdir -p "$WORK"

DATA="$WORK/data-$N"
if [ "$(find "$DATA" -maxdepth 1 -name '*.png' 2>/dev/null | wc -l)" != "$N" ]; then
  say "writing $N shapes images to $DATA"
  rm -rf "$DATA"
  "$MAIA" world dataset --n "$N" --seed 7 "$DATA" >/dev/null
fi
say "world CNN (trained once, then from maia's cache)"
"$MAIA" world train-cnn --out "$WORK/world-cnn.pt" >/dev/null
MODEL="$WORK/world-cnn.pt"

# Every run reads the same files: warm the page cache once so neither side pays for disk.
cat "$DATA"/*.png >/dev/null

# best NAME SECONDS FILE: keeps the fastest run of NAME (and its JSON).
best() {
  local prev
  prev="$(cat "$WORK/$1.best" 2>/dev/null || echo)"
  if [ -z "$prev" ] || awk "BEGIN{exit !($2 < $prev)}"; then
    echo "$2" >"$WORK/$1.best"
    cp "$3" "$WORK/$1-best.json"
  fi
}
rm -f "$WORK"/*.best

peer() { # NAME THREADS
  say "run $run/$RUNS: python peer, $1 ($WORKERS DataLoader workers, torch threads: ${2:-default})"
  "$PY" benches/exemplars_peer.py --model "$MODEL" --layer "$LAYER" --data "$DATA" --k "$K" \
    --workers "$WORKERS" --threads "${2:-0}" --device "$DEVICE" >"$WORK/$1.json"
  best "$1" "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/$1.json")" "$WORK/$1.json"
}

for run in $(seq 1 "$RUNS"); do
  say "run $run/$RUNS: maia ($DEVICE)"
  "$MAIA" exemplars --model "$MODEL" --layer "$LAYER" --data "$DATA" --k "$K" \
    --device "$DEVICE" --no-cache --json >"$WORK/maia.json" 2>"$WORK/maia.err"
  secs="$(sed -n 's/.*computed in \([0-9.]*\) s.*/\1/p' "$WORK/maia.err" | tail -1)"
  [ -n "$secs" ] || { cat "$WORK/maia.err" >&2; exit 1; }
  best maia "$secs" "$WORK/maia.json"
  peer peer ""
  peer peer-tuned 1
done

"$PY" - "$WORK" "$LAYER" "$DEVICE" "$CORES" <<'EOF'
import json, sys
work, layer, device, cores = sys.argv[1:5]
def load(name):
    return json.load(open(f"{work}/{name}-best.json")), float(open(f"{work}/{name}.best").read())
(maia, maia_s), (peer, peer_s), (tuned, tuned_s) = load("maia"), load("peer"), load("peer-tuned")
n = maia["images"]
ips = {"maia": n / maia_s, "peer": peer["images"] / peer_s, "tuned": tuned["images"] / tuned_s}
shown = len(peer["top"])
same = sum([e["index"] for e in maia["units"][u]] == peer["top"][u] for u in range(shown))
print(f"exemplar pass: world CNN {layer}, {n} images ({maia.get('skipped', 0)} skipped), {cores} cores, {device}")
print(f"  maia:                        {ips['maia']:8.1f} images/s  ({maia_s:.2f} s)")
print(f"  python peer (defaults):      {ips['peer']:8.1f} images/s  ({peer_s:.2f} s; {peer['workers']} workers, {peer['torch_threads']} torch threads)")
print(f"  python peer (1 torch thread):{ips['tuned']:8.1f} images/s  ({tuned_s:.2f} s)")
print(f"  ratio maia / peer:           {ips['maia'] / ips['peer']:8.2f}x  (target >= 1.5x)")
print(f"  ratio maia / tuned peer:     {ips['maia'] / ips['tuned']:8.2f}x")
print(f"  top-{len(peer['top'][0]) if shown else 0} of the first {shown} units identical: {same}/{shown}")
EOF
