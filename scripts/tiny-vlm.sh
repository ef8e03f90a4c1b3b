#!/usr/bin/env bash
# A real llama.cpp server with a tiny vision-language model made here, for trying maia's
# OpenAI-compatible backend without a GPU or a download, and for the test suite:
#
#   scripts/tiny-vlm.sh PORT [--no-mmproj] [--ctx-size N] [--parallel N]
#   maia run --backend openai --base-url http://127.0.0.1:PORT/v1 --model tiny-vlm ...
#
# Serves on 127.0.0.1:PORT in the foreground until SIGINT/SIGTERM. The server is llama.cpp's
# own C++ server from the prebuilt `xllamacpp` wheel (installed by scripts/install-deps.sh,
# or here if missing); the model (scripts/tiny_vlm.py: a 2-layer llama text model with a
# byte-level BPE tokenizer and a Qwen2.5-style chat template with tool calls, plus a
# gemma3-type vision projector) is written once into the cache ($MAIA_CACHE_DIR, else
# $XDG_CACHE_HOME/maia, else ~/.cache/maia; under tiny-vlm/) and rebuilt only when
# scripts/tiny_vlm.py changes. --no-mmproj serves the text model alone, which refuses images.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${1:?usage: scripts/tiny-vlm.sh PORT [--no-mmproj] [--ctx-size N] [--parallel N]}"
shift
PY="$ROOT/.venv/bin/python"
CACHE="${MAIA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maia}"
MODEL_DIR="$CACHE/tiny-vlm"
[ -x "$PY" ] || { echo "tiny-vlm: no $PY; run scripts/install-deps.sh first" >&2; exit 1; }

# Several servers may start at once (the tests): install and build under a lock.
mkdir -p "$MODEL_DIR"
exec 9>"$MODEL_DIR/.lock"
flock 9
"$ROOT/scripts/install-deps.sh" --llama-only >&2
WANT="$(sha256sum "$ROOT/scripts/tiny_vlm.py" | cut -d' ' -f1)"
if [ ! -f "$MODEL_DIR/tiny-vlm.gguf" ] || [ ! -f "$MODEL_DIR/tiny-vlm-mmproj.gguf" ] ||
  [ "$(cat "$MODEL_DIR/.built-from" 2>/dev/null)" != "$WANT" ]; then
  "$PY" "$ROOT/scripts/tiny_vlm.py" "$MODEL_DIR" >&2
  echo "$WANT" >"$MODEL_DIR/.built-from"
fi
flock -u 9
exec 9>&-

MMPROJ=(--mmproj "$MODEL_DIR/tiny-vlm-mmproj.gguf")
ARGS=()
for a in "$@"; do
  if [ "$a" = "--no-mmproj" ]; then MMPROJ=(); else ARGS+=("$a"); fi
done
exec "$PY" "$ROOT/scripts/llama_server.py" --host 127.0.0.1 --port "$PORT" \
  --model "$MODEL_DIR/tiny-vlm.gguf" "${MMPROJ[@]}" "${ARGS[@]}"
