#!/usr/bin/env bash
# Builds tend as static binaries for small devices: x86_64, aarch64 and armv7 (hard
# float) Linux, linked against musl by Zig, with Debian's Rust building std from source
# (see docs/PERFORMANCE.md for the sizes and how the builds compare with glibc's).
# Output: DIST/tend-TARGET for each target and DIST/SHA256SUMS (sha256sum's format,
# which the Ansible role checks).
# Usage: .ci/static/build.sh [TARGET...]      (default: all three)
#   TEND_STATIC_DIST        output folder (default: dist/)
#   TEND_STATIC_TARGET_DIR  cargo's target folder (default: target-static/)
#   TEND_STATIC_FEATURES    cargo features (default: the release's own)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
bin=$("$ROOT/.ci/static/setup.sh" | tail -n 1)
DIST=${TEND_STATIC_DIST:-$ROOT/dist}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)

# Debian's toolchain, not rustup's; Zig (the virtualenv's python3 -m ziglang) supplies crt1.o and musl,
# so rustc must not link its own copies (link-self-contained=no).
export PATH="$bin:/usr/bin:$PATH" RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-C link-self-contained=no"
export CARGO_TARGET_DIR=${TEND_STATIC_TARGET_DIR:-$ROOT/target-static}
unset RUSTUP_TOOLCHAIN RUSTDOC RUSTC_WRAPPER

# The edge build: no `https` feature (rustls and ring are 0.9 MB of the binary; an
# https:// health probe then fails and says why), and the release profile optimized
# for size rather than speed (opt-level "z": 7% smaller). TEND_STATIC_FEATURES=https
# gives the full feature set.
features=(--no-default-features)
[ -n "${TEND_STATIC_FEATURES:-}" ] && features+=(--features "$TEND_STATIC_FEATURES")
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}
# std without its backtrace symbolizer (0.17 MB): a panic still prints its message and
# where it happened, without a backtrace.
std_features=(-Zbuild-std=std,panic_abort -Zbuild-std-features=)

# One cargo run for every target: the build scripts and proc macros are built once,
# and one target's long single-threaded link (fat LTO) overlaps another's compile.
t0=$(date +%s)
targets=()
for t in "${TARGETS[@]}"; do targets+=(--target "$t"); done
echo "==> tend for ${TARGETS[*]}"
"$bin/cargo-zigbuild" zigbuild "${std_features[@]}" --release --locked -p tend \
  "${features[@]}" "${targets[@]}"
echo "    built in $(( $(date +%s) - t0 ))s"
mkdir -p "$DIST"
for t in "${TARGETS[@]}"; do
  cp "$CARGO_TARGET_DIR/$t/release/tend" "$DIST/tend-$t.tmp"
  mv "$DIST/tend-$t.tmp" "$DIST/tend-$t"
  echo "    tend-$t: $(stat -c %s "$DIST/tend-$t") bytes"
done
# The sums of this run's builds only: a binary left in DIST by an earlier run (another
# target, an older source) must not be listed as verified.
names=()
for t in "${TARGETS[@]}"; do names+=("tend-$t"); done
(cd "$DIST" && sha256sum "${names[@]}" > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
cat "$DIST/SHA256SUMS"
