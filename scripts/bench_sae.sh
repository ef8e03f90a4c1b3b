#!/usr/bin/env bash
# The SAE exemplar-pass benchmark: what encoding every position with an SAE and keeping the
# top-k images of every latent costs on top of the same layer's plain exemplar pass (which
# runs at about the forward-only ceiling; see scripts/bench_exemplars.sh), in one
# invocation, on the same images. Target (issue 17): at most +50 % at 16,384 latents.
#
#   scripts/bench_sae.sh                          # world CNN conv4 and ResNet-18 layer4, CPU
#   MAIA_BENCH_N=500 MAIA_BENCH_LATENTS=4096 scripts/bench_sae.sh
#   MAIA_BENCH_DEVICE=cuda:0 scripts/bench_sae.sh
#   MAIA_BENCH_BUILD=debug scripts/bench_sae.sh   # reuse the debug build (slower Rust side)
#
# Steps: build maia; a shapes dataset; the world CNN (cached) and a random-weight
# torchvision ResNet-18 exported with scripts/export_model.py; a random TopK SAE
# (k = 32) in SAELens layout for each layer, written by Python; then $MAIA_BENCH_RUNS times
# in turn (best run counts) `maia exemplars --no-cache` on LAYER and on LAYER:sae. Prints
# images/s and the overhead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

N="${MAIA_BENCH_N:-1000}"
LATENTS="${MAIA_BENCH_LATENTS:-16384}"
DEVICE="${MAIA_BENCH_DEVICE:-cpu}"
RUNS="${MAIA_BENCH_RUNS:-2}"
BUILD="${MAIA_BENCH_BUILD:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
WORK="${MAIA_BENCH_DIR:-$TARGET_DIR/bench-sae}"
PY="$VIRTUAL_ENV/bin/python"

say() { printf '\033[1m[bench sae]\033[0m %s\n' "$*" >&2; }

if [ "$BUILD" = release ]; then
  say "building maia (release)"
  cargo build --release -q -p maia-tui
else
  cargo build -q -p maia-tui
fi
MAIA="$TARGET_DIR/$BUILD/maia"
mkdir -p "$WORK"

DATA="$WORK/data-$N"
if [ "$(find "$DATA" -maxdepth 1 -name '*.png' 2>/dev/null | wc -l)" != "$N" ]; then
  say "writing $N shapes images to $DATA"
  rm -rf "$DATA"
  "$MAIA" world dataset --n "$N" --seed 7 "$DATA" >/dev/null
fi
"$MAIA" world train-cnn --out "$WORK/world-cnn.pt" >/dev/null
if [ ! -f "$WORK/resnet18.pt" ]; then
  say "exporting a random-weight ResNet-18"
  "$PY" scripts/export_model.py --arch resnet18 --layers layer4 --out "$WORK/resnet18.pt" >/dev/null
fi

# A random TopK SAE over a layer of WIDTH channels, in SAELens layout.
make_sae() {
  "$PY" - "$1" "$2" "$LATENTS" <<'PYTHON'
import json, os, sys, torch
from safetensors.torch import save_file
out, d_in, d_sae = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
w = torch.randn(d_sae, d_in) / d_in ** 0.5
save_file({"W_enc": w.T.contiguous(), "b_enc": torch.zeros(d_sae), "W_dec": w.contiguous(),
           "b_dec": torch.zeros(d_in)}, os.path.join(out, "sae_weights.safetensors"))
json.dump({"d_in": d_in, "d_sae": d_sae, "architecture": "topk", "k": 32},
          open(os.path.join(out, "cfg.json"), "w"))
PYTHON
}

# Best wall time, in seconds, of `maia exemplars` with the given arguments.
best() {
  local best=""
  for _ in $(seq "$RUNS"); do
    local start end t
    start=$(date +%s.%N)
    "$MAIA" exemplars --no-cache --device "$DEVICE" --data "$DATA" "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}

# The floor under any SAE pass: libtorch's own time for the encoder's matmul over every
# position of N images ([N·P, width] × [width, LATENTS], in chunks of 64 images, on the
# same threads), in seconds.
matmul_floor() {
  "$PY" - "$N" "$1" "$2" "$LATENTS" "$DEVICE" <<'PYTHON'
import sys, time, torch
n, positions, width, latents, device = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
device = "cuda" if device.startswith("cuda") else "cpu"
torch.manual_seed(0)
w = torch.randn(width, latents, device=device)
x = torch.randn(64 * positions, width, device=device)
best = None
for _ in range(2):
    if device == "cuda": torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(0, n, 64):
        (x @ w).amax(0)
    if device == "cuda": torch.cuda.synchronize()
    t = time.perf_counter() - start
    best = t if best is None else min(best, t)
print(best)
PYTHON
}

printf '%-12s %8s %6s %6s %12s %12s %9s %14s\n' model layer width maps "plain img/s" "sae img/s" overhead "matmul floor"
for entry in "world-cnn:conv4:128" "resnet18:layer4:512"; do
  IFS=: read -r name layer width <<<"$entry"
  model="$WORK/$name.pt"
  sae="$WORK/sae-$name-$layer-$LATENTS"
  [ -f "$sae/cfg.json" ] || make_sae "$sae" "$width"
  positions=$("$MAIA" model info --json --device "$DEVICE" "$model" | "$PY" -c "
import json, sys
layer = next(l for l in json.load(sys.stdin)['layers'] if l['name'] == '$layer')
print(layer['map_height'] * layer['map_width'])")
  say "$name $layer: plain pass, then with $LATENTS latents"
  plain=$(best --model "$model" --layer "$layer")
  with=$(best --model "$model" --sae "$sae" --layer "$layer:sae")
  floor=$(matmul_floor "$positions" "$width")
  awk -v n="$N" -v p="$plain" -v w="$with" -v f="$floor" -v m="$name" -v l="$layer" -v c="$width" -v pos="$positions" \
    'BEGIN { printf "%-12s %8s %6s %6s %12.1f %12.1f %8.0f%% %13.0f%%\n", m, l, c, pos, n / p, n / w, 100 * (w - p) / p, 100 * f / p }'
done
echo "overhead: the SAE pass's extra wall time over the plain pass; matmul floor: libtorch's time"
echo "for the encoder matmul alone, as a share of the plain pass (no SAE pass can beat it)."
