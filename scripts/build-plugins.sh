#!/usr/bin/env bash
# Builds maia's plugins and installs each beside its plugin.toml, where maia finds them:
#   example plugins -> target/plugins/<name>/   (searched by every maia run)
#   test fixtures   -> target/fixtures/<name>/  (for trying faults by hand: `maia plugin check`)
# Native plugins are built with the dev profile, wasm plugins in release for wasm32-wasip2.
# Running it again rebuilds only what changed and replaces the installed copies.
#
# Usage: scripts/build-plugins.sh [--examples-only]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

examples_only=0
for arg in "$@"; do
    case "$arg" in
        --examples-only) examples_only=1 ;;
        -h | --help)
            sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-plugins.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

# crate directory | cargo package | kind (native or wasm)
examples=(
    "plugins/image-ops|maia-image-ops|native"
    "plugins/http-images|maia-http-images|native"
    "plugins/image-stats|maia-image-stats|wasm"
    "plugins/shapes-tools|maia-shapes-tools|wasm"
)
fixtures=(
    "tests/fixtures/native-fixture|native-fixture|native"
    "tests/fixtures/native-sdk2|native-sdk2|native"
    "tests/fixtures/wasm-fixture|wasm-fixture|wasm"
    "tests/fixtures/wasm-sdk2|wasm-sdk2|wasm"
)
plugins=("${examples[@]}")
if [[ $examples_only == 0 ]]; then
    plugins+=("${fixtures[@]}")
fi

target="${CARGO_TARGET_DIR:-$root/target}"
native_packages=()
wasm_packages=()
for entry in "${plugins[@]}"; do
    IFS='|' read -r _dir package kind <<<"$entry"
    case "$kind" in
        native) native_packages+=(-p "$package") ;;
        wasm) wasm_packages+=(-p "$package") ;;
    esac
done

if ((${#native_packages[@]})); then
    cargo build --quiet "${native_packages[@]}"
fi
if ((${#wasm_packages[@]})); then
    cargo build --quiet --release --target wasm32-wasip2 "${wasm_packages[@]}"
fi

# The artifact's file name, as plugin.toml names it.
artifact_of() {
    sed -n 's/^artifact[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$1" | head -n 1
}

install_plugin() {
    local dir=$1 kind=$2 dest_root=$3
    local manifest="$dir/plugin.toml"
    local name artifact built dest
    name="$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)"
    artifact="$(artifact_of "$manifest")"
    if [[ ! $name =~ ^[A-Za-z0-9_-]+$ || -z $artifact ]]; then
        echo "build-plugins.sh: $manifest must set a plain name ([A-Za-z0-9_-]) and an artifact" >&2
        exit 1
    fi
    case "$kind" in
        native) built="$target/debug/$artifact" ;;
        wasm) built="$target/wasm32-wasip2/release/$artifact" ;;
    esac
    if [[ ! -f $built ]]; then
        echo "build-plugins.sh: $built was not built; does $manifest name the artifact cargo produces?" >&2
        exit 1
    fi
    dest="$dest_root/$name"
    # Replace the whole directory, so files from an older layout do not linger.
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$manifest" "$built" "$dest/"
    printf '%-15s %-6s %s\n' "$name" "$kind" "${dest#"$root"/}"
}

for entry in "${examples[@]}"; do
    IFS='|' read -r dir _package kind <<<"$entry"
    install_plugin "$dir" "$kind" "$target/plugins"
done
if [[ $examples_only == 0 ]]; then
    for entry in "${fixtures[@]}"; do
        IFS='|' read -r dir _package kind <<<"$entry"
        install_plugin "$dir" "$kind" "$target/fixtures"
    done
fi
