#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and run maia. Idempotent: each step
# checks first and skips what is already present, so running it again costs seconds.
#   - Debian build tools for libsixel (sixel-rs builds it from source), tmux and
#     libsixel-bin (sixel2png) for the TUI tests, chromium for the report page test
#   - Slurm (slurm-wlm) and munge for the `maia batch` test against a real one-node cluster
#     (scripts/slurm/cluster.sh); their system daemons are kept stopped, see below
#   - the wasm32-wasip2 Rust target (wasm plugins)
#   - PyTorch from PyPI into a project-local venv (.venv), the libtorch that tch links
#   - timm for export_model.py's timm models and the eval-transform test
#   - transformers for export_model.py's Hugging Face vision models (hf:, hf-tiny:)
#   - open_clip for export_model.py's CLIP visual towers (openclip:, openclip-tiny)
#   - torchvision (the release built for that torch) for scripts/export_model.py, the
#     ResNet-18 export test and the exemplar benchmark's Python peer (pulls numpy, Pillow)
#   - llama.cpp's own server (the prebuilt `xllamacpp` wheel; llama-cpp-python has no binary
#     wheel and would compile for many minutes) and `gguf`, for scripts/tiny-vlm.sh and the
#     tests that run the agent against a real OpenAI-compatible server
# `install-deps.sh --llama-only` does only the last step (scripts/tiny-vlm.sh calls it).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${MAIA_TORCH_VERSION:-2.13.0}"
# torchvision pins the exact torch it was built for: 0.28.0 requires torch==2.13.0.
TORCHVISION_VERSION="${MAIA_TORCHVISION_VERSION:-0.28.0}"
VENV="${MAIA_VENV:-.venv}"

say() { printf '\033[1m[maia setup]\033[0m %s\n' "$*"; }

# llama.cpp's server and the GGUF writer, pinned; `tokenizers` (which transformers brings)
# builds the tiny model's vocabulary.
XLLAMACPP_VERSION="${MAIA_XLLAMACPP_VERSION:-2026.10.11549}"
GGUF_VERSION="${MAIA_GGUF_VERSION:-0.19.0}"
llama_server() {
  if "$VENV/bin/python" - "$XLLAMACPP_VERSION" "$GGUF_VERSION" <<'PYTHON' 2>/dev/null; then
import sys
from importlib.metadata import version
import tokenizers
sys.exit(0 if (version("xllamacpp"), version("gguf")) == (sys.argv[1], sys.argv[2]) else 1)
PYTHON
    [ "${1:-}" = quiet ] || say "xllamacpp $XLLAMACPP_VERSION and gguf $GGUF_VERSION present in $VENV"
  else
    say "installing xllamacpp==$XLLAMACPP_VERSION (llama.cpp's server) and gguf==$GGUF_VERSION into $VENV"
    "$VENV/bin/python" -m pip install -q "xllamacpp==$XLLAMACPP_VERSION" "gguf==$GGUF_VERSION" tokenizers
  fi
}
if [ "${1:-}" = --llama-only ]; then
  [ -x "$VENV/bin/python" ] || { echo "no venv at $VENV: run scripts/install-deps.sh" >&2; exit 1; }
  llama_server quiet
  exit 0
fi
# `dpkg -s` also succeeds for a removed package whose config files remain.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

need_apt=()
for pkg in autoconf automake libtool pkg-config make gcc g++ tmux libsixel-bin chromium; do
  installed "$pkg" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
  say "Debian packages present"
fi

# Slurm and munge, for tui/tests/batch_slurm.rs. The Debian packages start system daemons
# (munged on /run/munge, slurmctld/slurmd on ports 6817/6818) when installed; the test
# runs its own private cluster (scripts/slurm/cluster.sh: its own key, socket, free ports,
# state under a temp dir) and needs none of them, so installing here keeps them from
# starting (a policy-rc.d for the length of the install) and stops any that started
# anyway. A machine that already had these packages is left as it is.
need_slurm=()
for pkg in slurm-wlm munge; do
  installed "$pkg" || need_slurm+=("$pkg")
done
if [ ${#need_slurm[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_slurm[*]} (system daemons kept stopped)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  policy=/usr/sbin/policy-rc.d
  own_policy=""
  if [ ! -e "$policy" ]; then
    # exit 101: "action forbidden by policy", so invoke-rc.d starts nothing.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
  fi
  log="$(mktemp)"
  { $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${need_slurm[@]}"; } >"$log" 2>&1 || status=$?
  if [ -n "$own_policy" ]; then $SUDO rm -f "$policy"; fi
  if [ "${status:-0}" -ne 0 ]; then
    cat "$log" >&2
    say "installing ${need_slurm[*]} failed (above)"
    exit "$status"
  fi
  rm -f "$log"
  for svc in slurmd slurmctld munge; do
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    else
      $SUDO service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
else
  say "Debian packages slurm-wlm and munge present"
fi

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  say "adding Rust target wasm32-wasip2"
  rustup target add wasm32-wasip2
else
  say "Rust target wasm32-wasip2 present"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  python3 -m venv "$VENV"
fi
if "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null; then
  say "torch $TORCH_VERSION present in $VENV"
else
  say "installing torch==$TORCH_VERSION into $VENV (large download, once)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
fi
if "$VENV/bin/python" -c "import torchvision,sys; sys.exit(0 if torchvision.__version__.split('+')[0]=='$TORCHVISION_VERSION' else 1)" 2>/dev/null; then
  say "torchvision $TORCHVISION_VERSION present in $VENV"
else
  say "installing torchvision==$TORCHVISION_VERSION into $VENV"
  # Pinning torch too keeps pip from swapping the libtorch tch was built against.
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# timm, for `scripts/export_model.py --arch timm:NAME` (its eval transform: bicubic, its
# own crop_pct and mean/std) and the test that checks maia prepares images as it does.
# Models are created with random weights; nothing is downloaded at run time.
TIMM_VERSION="${MAIA_TIMM_VERSION:-1.0.31}"
if "$VENV/bin/python" -c "import timm,sys; sys.exit(0 if timm.__version__=='$TIMM_VERSION' else 1)" 2>/dev/null; then
  say "timm $TIMM_VERSION present in $VENV"
else
  say "installing timm==$TIMM_VERSION into $VENV"
  "$VENV/bin/python" -m pip install -q "timm==$TIMM_VERSION" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# transformers, for `scripts/export_model.py --arch hf:ID` (CLIPVisionModel, Dinov2Model,
# ViTModel, ... traced to return their chosen blocks) and the tiny random-weight
# configurations the tests export (`--arch hf-tiny:vit|dinov2|clip`).
TRANSFORMERS_VERSION="${MAIA_TRANSFORMERS_VERSION:-4.57.1}"
if "$VENV/bin/python" -c "import transformers,sys; sys.exit(0 if transformers.__version__=='$TRANSFORMERS_VERSION' else 1)" 2>/dev/null; then
  say "transformers $TRANSFORMERS_VERSION present in $VENV"
else
  say "installing transformers==$TRANSFORMERS_VERSION into $VENV"
  "$VENV/bin/python" -m pip install -q "transformers==$TRANSFORMERS_VERSION" "torch==$TORCH_VERSION"
fi

# open_clip, for `scripts/export_model.py --arch openclip:NAME` (CLIP's visual tower) and
# the tiny random-weight tower the tests export (`--arch openclip-tiny`).
OPEN_CLIP_VERSION="${MAIA_OPEN_CLIP_VERSION:-3.3.0}"
if "$VENV/bin/python" -c "import open_clip,sys; sys.exit(0 if open_clip.__version__=='$OPEN_CLIP_VERSION' else 1)" 2>/dev/null; then
  say "open_clip $OPEN_CLIP_VERSION present in $VENV"
else
  say "installing open_clip_torch==$OPEN_CLIP_VERSION into $VENV"
  "$VENV/bin/python" -m pip install -q "open_clip_torch==$OPEN_CLIP_VERSION" "torch==$TORCH_VERSION" \
    "torchvision==$TORCHVISION_VERSION" "timm==$TIMM_VERSION"
fi

llama_server
