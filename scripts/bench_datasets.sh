#!/usr/bin/env bash
# The real-data benchmark, in one invocation, on JPEGs like ImageNet's (500 x 375, quality
# 90, made by Pillow from shapes-world scenes: no data set can be downloaded here):
#
#   1. decode + transform: `maia dataset check --model r18.pt` (maia's JPEG decoder, the
#      sidecar's Resize(256) + CenterCrop(224) + normalize, every core) against torchvision
#      (Pillow decode, Resize(256), CenterCrop(224), ToTensor, Normalize in a DataLoader
#      with 2 workers) on the same files. Target: maia >= 1.5x.
#   2. the whole exemplar pass of a random-weight ResNet-18 (layer4; or $MAIA_BENCH_ARCH's
#      $MAIA_BENCH_LAYER, e.g. a ViT's token layer) over them: `maia
#      exemplars` against the Python peer (benches/exemplars_peer.py: the same TorchScript
#      file, torchvision's transform in DataLoader workers, a running top-k) and against the
#      forward-only ceiling (the model alone on ready inputs, libtorch's threads = cores).
#      Target: maia >= 0.9x the ceiling.
#
#   scripts/bench_datasets.sh                      # 2,000 images, CPU
#   MAIA_BENCH_N=500 scripts/bench_datasets.sh     # quicker
#   MAIA_BENCH_DEVICE=cuda:0 scripts/bench_datasets.sh   # the pass on a GPU, where
#                                                        # decoding sets the pace
#   MAIA_BENCH_ARCH=timm:vit_small_patch16_224 MAIA_BENCH_LAYER=blocks.11 \
#     scripts/bench_datasets.sh                      # a ViT-S/16 token layer instead
#   MAIA_BENCH_SCALE=50000 scripts/bench_datasets.sh     # also: memory of one pass over
#       50,000 images (links to the same JPEGs) against one over N, with a tiny model
#
# The data and the model are kept in $MAIA_BENCH_DIR (default target/bench-datasets) between
# runs. Each measurement runs $MAIA_BENCH_RUNS times (default 2) and the best counts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

N="${MAIA_BENCH_N:-2000}"
DEVICE="${MAIA_BENCH_DEVICE:-cpu}"
RUNS="${MAIA_BENCH_RUNS:-2}"
ARCH="${MAIA_BENCH_ARCH:-resnet18}"
LAYER="${MAIA_BENCH_LAYER:-layer4}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
WORK="${MAIA_BENCH_DIR:-$TARGET_DIR/bench-datasets}"
CORES="$(nproc)"
PY="$VIRTUAL_ENV/bin/python"

say() { printf '\033[1m[bench datasets]\033[0m %s\n' "$*" >&2; }
field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

say "building maia (release)"
cargo build --release -q -p maia-tui
MAIA="$TARGET_DIR/release/maia"
mkdir -p "$WORK"

PNG="$WORK/png-$N"
JPEG="$WORK/jpeg-$N"
if [ "$(find "$JPEG" -maxdepth 1 -name '*.jpg' 2>/dev/null | wc -l)" != "$N" ]; then
  say "making $N JPEGs (500x375, q90) from shapes-world scenes in $JPEG"
  rm -rf "$PNG" "$JPEG"
  "$MAIA" world dataset --n "$N" --seed 7 "$PNG" >/dev/null
  "$PY" scripts/jpeg_dataset.py convert --src "$PNG" --out "$JPEG" --size 500x375 --quality 90 >&2
  rm -rf "$PNG"
fi
MODEL="$WORK/$(echo "$ARCH" | tr ':/' '__')-$LAYER.pt"
if [ ! -f "$MODEL.json" ]; then
  say "exporting a random-weight $ARCH ($LAYER) with its eval transform"
  "$PY" scripts/export_model.py --arch "$ARCH" --layers "$LAYER" --out "$MODEL" >&2
fi
# Every run reads the same files: warm the page cache once so neither side pays for disk.
cat "$JPEG"/*.jpg >/dev/null

best() { # NAME VALUE: keeps the highest images/s of NAME
  local prev
  prev="$(cat "$WORK/$1.best" 2>/dev/null || echo)"
  if [ -z "$prev" ] || awk "BEGIN{exit !($2 > $prev)}"; then echo "$2" >"$WORK/$1.best"; fi
}
rm -f "$WORK"/*.best "$WORK/scale.txt"

for run in $(seq 1 "$RUNS"); do
  say "run $run/$RUNS: decode + transform, maia ($CORES threads)"
  "$MAIA" dataset check --model "$MODEL" --json "$JPEG" >"$WORK/check.json"
  best decode-maia "$(field "$WORK/check.json" images_per_s)"
  say "run $run/$RUNS: decode + transform, torchvision (DataLoader, 2 workers)"
  "$PY" benches/exemplars_peer.py --model "$MODEL" --layer "$LAYER" --data "$JPEG" \
    --workers 2 --decode-only >"$WORK/decode-peer.json"
  best decode-peer "$(field "$WORK/decode-peer.json" images_per_s)"
done

for run in $(seq 1 "$RUNS"); do
  say "run $run/$RUNS: exemplar pass, maia ($DEVICE)"
  "$MAIA" exemplars --model "$MODEL" --layer "$LAYER" --data "$JPEG" --device "$DEVICE" \
    --no-cache --json >"$WORK/maia.json" 2>"$WORK/maia.err"
  secs="$(sed -n 's/.*computed in \([0-9.]*\) s.*/\1/p' "$WORK/maia.err" | tail -1)"
  [ -n "$secs" ] || { cat "$WORK/maia.err" >&2; exit 1; }
  best pass-maia "$(awk "BEGIN{print $N / $secs}")"
  say "run $run/$RUNS: exemplar pass, python peer ($CORES workers, one torch thread)"
  "$PY" benches/exemplars_peer.py --model "$MODEL" --layer "$LAYER" --data "$JPEG" \
    --workers "$CORES" --threads 1 --device "$DEVICE" >"$WORK/pass-peer.json"
  best pass-peer "$(field "$WORK/pass-peer.json" images_per_s)"
  say "run $run/$RUNS: forward-only ceiling ($DEVICE, torch's default threads)"
  "$PY" benches/exemplars_peer.py --model "$MODEL" --layer "$LAYER" --data "$JPEG" \
    --device "$DEVICE" --ceiling >"$WORK/ceiling.json"
  best ceiling "$(field "$WORK/ceiling.json" images_per_s)"
done

SCALE="${MAIA_BENCH_SCALE:-0}"
if [ "$SCALE" -gt 0 ]; then
  BIG="$WORK/links-$SCALE"
  if [ "$(find "$BIG" -maxdepth 1 -name '*.jpg' 2>/dev/null | wc -l)" != "$SCALE" ]; then
    say "linking $SCALE names to the $N JPEGs in $BIG"
    rm -rf "$BIG" && mkdir -p "$BIG"
    mapfile -t files < <(find "$(realpath "$JPEG")" -maxdepth 1 -name '*.jpg' | sort)
    for i in $(seq 0 $((SCALE - 1))); do ln -s "${files[$((i % N))]}" "$BIG/$(printf '%06d' "$i").jpg"; done
  fi
  TINY="$WORK/tiny.pt"
  [ -f "$TINY.json" ] || "$PY" scripts/export_model.py --arch tiny --size 64 --out "$TINY" >&2
  for data in "$JPEG" "$BIG"; do
    n="$(find "$data" -maxdepth 1 -name '*.jpg' | wc -l)"
    say "memory: exemplar pass of the tiny model over $n images"
    /usr/bin/time -f '%M %e' -o "$WORK/time.txt" "$MAIA" exemplars --model "$TINY" --layer block3 \
      --data "$data" --no-cache --json >/dev/null 2>"$WORK/scale.err"
    read -r kb secs <"$WORK/time.txt"
    echo "$n $kb $secs" >>"$WORK/scale.txt"
  done
fi

"$PY" - "$WORK" "$N" "$DEVICE" "$CORES" <<'EOF'
import os
import sys
work, n, device, cores = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
v = {k: float(open(f"{work}/{k}.best").read()) for k in
     ["decode-maia", "decode-peer", "pass-maia", "pass-peer", "ceiling"]}
print(f"{n} JPEGs 500x375 q90, {cores} cores, pass on {device}; images/s, best of runs")
print(f"  model: {os.environ.get('MAIA_BENCH_ARCH', 'resnet18')} {os.environ.get('MAIA_BENCH_LAYER', 'layer4')}")
print(f"  decode + transform  maia {v['decode-maia']:8.1f}   torchvision {v['decode-peer']:8.1f}"
      f"   ratio {v['decode-maia'] / v['decode-peer']:.2f}x (target >= 1.5x)")
print(f"  exemplar pass       maia {v['pass-maia']:8.1f}   python peer {v['pass-peer']:8.1f}"
      f"   ratio {v['pass-maia'] / v['pass-peer']:.2f}x")
print(f"  forward-only ceiling     {v['ceiling']:8.1f}   maia / ceiling {v['pass-maia'] / v['ceiling']:.2f}x"
      f" (target >= 0.9x)")
if os.path.exists(f"{work}/scale.txt"):
    for line in open(f"{work}/scale.txt"):
        n, kb, secs = line.split()
        print(f"  tiny-model pass over {int(n):6d} images: max RSS {int(kb) / 1024:6.0f} MiB, {float(secs):6.1f} s"
              f" ({int(n) / float(secs):.0f} images/s)")
EOF
