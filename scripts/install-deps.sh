#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and run maia. Idempotent: each step
# checks first and skips what is already present, so running it again costs seconds.
#   - Debian build tools for libsixel (sixel-rs builds it from source), tmux and
#     libsixel-bin (sixel2png) for the TUI tests, chromium for the report page test
#   - the wasm32-wasip2 Rust target (wasm plugins)
#   - PyTorch from PyPI into a project-local venv (.venv), the libtorch that tch links
#   - torchvision (the release built for that torch) for scripts/export_model.py, the
#     ResNet-18 export test and the exemplar benchmark's Python peer (pulls numpy, Pillow)
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${MAIA_TORCH_VERSION:-2.13.0}"
# torchvision pins the exact torch it was built for: 0.28.0 requires torch==2.13.0.
TORCHVISION_VERSION="${MAIA_TORCHVISION_VERSION:-0.28.0}"
VENV="${MAIA_VENV:-.venv}"

say() { printf '\033[1m[maia setup]\033[0m %s\n' "$*"; }

need_apt=()
for pkg in autoconf automake libtool pkg-config make gcc g++ tmux libsixel-bin chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
  say "Debian packages present"
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
