#!/usr/bin/env bash
# Builds the example contracts to wasm, reproducibly.
#
#   contracts/build.sh [OUTDIR]
#
# Writes OUTDIR/<name>/<name>.wasm for each contract (counter, token,
# vault), and beside it <name>.names, the module's function names (for gas
# profiles: wasmchain.client.profile); OUTDIR defaults to this directory,
# i.e. next to the sources, where the committed files live. Cargo builds
# with the name section kept; chain/client/wasm_names.py (python3) then strips every custom
# section but the interface (`wasmchain:wit`, the contract's WIT world),
# which gives what `strip = true` gives byte for byte, and writes the
# names, demangled, keyed by the stripped module's hash.
#
# The same toolchain gives the same bytes from any checkout path, any user
# and any time: a private CARGO_HOME and target directory, source paths
# remapped, --locked --offline, no timestamps, and no environment overrides
# of the profile or flags. The pinned toolchain is in TOOLCHAIN; another
# one builds, with a warning, but its bytes will likely differ.
#
# Exit status: 0 built, 1 build failed, 2 no usable toolchain.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
out="${1:-$here}"
contracts=(counter token vault)
target=wasm32-unknown-unknown

has_wasm_target() { # RUSTC
    local sysroot
    sysroot="$("$1" --print sysroot 2>/dev/null)" || return 1
    [ -d "$sysroot/lib/rustlib/$target" ]
}

no_toolchain() { # REASON
    cat >&2 <<EOF
build.sh: $1
Get a Rust toolchain with the $target target, one of:
  - Debian/Ubuntu (the pinned toolchain, $(head -n1 "$here/TOOLCHAIN")):
      sudo apt-get install rustc cargo libstd-rust-dev-wasm32 lld
  - rustup:
      rustup target add $target
    (builds, but the bytes will likely differ from the committed .wasm files)
EOF
    exit 2
}

# Find a toolchain with the wasm32 target: WASMCHAIN_CARGO/WASMCHAIN_RUSTC
# if set, else Debian's /usr/bin (the pinned one), else cargo/rustc on PATH.
cargo="" rustc=""
if [ -n "${WASMCHAIN_RUSTC:-}" ] || [ -n "${WASMCHAIN_CARGO:-}" ]; then
    cargo="${WASMCHAIN_CARGO:-cargo}" rustc="${WASMCHAIN_RUSTC:-rustc}"
    has_wasm_target "$rustc" || no_toolchain "$rustc (from WASMCHAIN_RUSTC) is not a rustc with the $target target"
    command -v "$cargo" >/dev/null || no_toolchain "$cargo (from WASMCHAIN_CARGO) not found"
elif [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && has_wasm_target /usr/bin/rustc; then
    cargo=/usr/bin/cargo rustc=/usr/bin/rustc
elif command -v cargo >/dev/null && command -v rustc >/dev/null && has_wasm_target rustc; then
    cargo="$(command -v cargo)" rustc="$(command -v rustc)"
else
    no_toolchain "no Rust toolchain with the $target target found (looked at /usr/bin and PATH)"
fi

pinned="$(head -n1 "$here/TOOLCHAIN")"
actual="$("$rustc" --version)"
if [ "$actual" != "$pinned" ]; then
    echo "build.sh: warning: toolchain is '$actual', pinned is '$pinned' ($here/TOOLCHAIN);" >&2
    echo "build.sh: warning: the .wasm bytes will likely differ from the committed ones" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/wasmchain-contracts.XXXXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cargo-home"

# A clean environment for cargo: nothing from the caller's shell or
# ~/.cargo may change the flags, the profile or the compiler.
while IFS='=' read -r name _; do
    case "$name" in
        CARGO_PROFILE_*|CARGO_BUILD_*|CARGO_TARGET_*|CARGO_ENCODED_RUSTFLAGS|RUSTFLAGS|RUSTC_WRAPPER|RUSTC_WORKSPACE_WRAPPER|CARGO_INCREMENTAL|SOURCE_DATE_EPOCH|RUSTC_BOOTSTRAP)
            unset "$name" ;;
    esac
done < <(env)

export CARGO_HOME="$work/cargo-home"
export CARGO_TARGET_DIR="$work/target"
export RUSTC="$rustc"
export CARGO_INCREMENTAL=0
# Cargo also reads .cargo/config.toml in every parent directory of the
# checkout; the environment beats config files, so pin here what a stray
# config could change: the release profile (as in Cargo.toml), wrappers
# and the linker.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_STRIP=false # wasm_names.py strips, keeping the names aside
export CARGO_PROFILE_RELEASE_INCREMENTAL=false
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=false
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=false
export RUSTC_WRAPPER="" RUSTC_WORKSPACE_WRAPPER=""
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=rust-lld
export LC_ALL=C TZ=UTC
# Flags, separated by 0x1f: a small stack keeps the initial memory at 2
# pages (the default 1 MiB stack needs 17+); the remapping keeps the
# checkout path and CARGO_HOME out of panic locations and debug info.
sep=$'\x1f'
flags=(
    "-Clink-arg=-zstack-size=65536"
    "--remap-path-prefix=$here=/wasmchain/contracts"
    "--remap-path-prefix=$CARGO_HOME=/cargo-home"
)
CARGO_ENCODED_RUSTFLAGS="$(IFS="$sep"; echo "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS

pkgs=()
for c in "${contracts[@]}"; do pkgs+=(-p "$c"); done

(cd "$here" && "$cargo" build --release --locked --offline --target "$target" "${pkgs[@]}") || exit 1

for c in "${contracts[@]}"; do
    mkdir -p "$out/$c"
    python3 "$here/../chain/client/wasm_names.py" "$CARGO_TARGET_DIR/$target/release/$c.wasm" "$out/$c/$c.wasm" "$out/$c/$c.names" || exit 1
    if command -v sha256sum >/dev/null; then
        (cd "$out/$c" && printf '%s  %s bytes\n' "$(sha256sum "$c.wasm")" "$(wc -c <"$c.wasm" | tr -d ' ')")
    else
        echo "$out/$c/$c.wasm"
    fi
done
