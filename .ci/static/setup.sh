#!/usr/bin/env bash
# Installs what the static builds need, and only what is missing (a second run takes
# under a second): Debian's Rust with its std sources (the rustup toolchain has no musl
# or ARM std; Debian's builds std from source with -Zbuild-std), Zig and cargo-zigbuild
# from PyPI in a virtualenv (Zig brings musl and a linker for every target), and
# qemu-user to run the ARM builds. Checked as capabilities, not package names.
# Prints the virtualenv's bin folder on its last line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${TEND_STATIC_VENV:-/var/cache/tend-static/venv}
TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo

apt_install() {
  echo "==> installing $*" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
rust_ok() {
  local have t list
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || return 1
  list=$(/usr/bin/rustc --print target-list 2>/dev/null) || return 1
  for t in "${TARGETS[@]}"; do grep -qx "$t" <<<"$list" || return 1; done
  # -Zbuild-std needs std's sources in the sysroot.
  [ -f "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml" ] || return 1
  have=$(/usr/bin/rustc --version | awk '{print $2}')
  [ "$(printf '%s\n%s\n' "$msrv" "$have" | sort -V | head -n1)" = "$msrv" ]
}
rust_ok || apt_install rustc-web cargo-web rust-web-src
rust_ok || { echo "setup: Debian's $(/usr/bin/rustc --version 2>/dev/null) lacks a musl target or std's sources, or is older than $msrv" >&2; exit 1; }

for emu in qemu-x86_64-static qemu-aarch64-static qemu-arm-static; do
  command -v "$emu" >/dev/null || { apt_install qemu-user-static; break; }
done
command -v jq >/dev/null || apt_install jq

zig_ok() { "$VENV/bin/python" -m ziglang version >/dev/null 2>&1 && "$VENV/bin/cargo-zigbuild" --version >/dev/null 2>&1; }
if ! zig_ok; then
  echo "==> Zig and cargo-zigbuild into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q ziglang cargo-zigbuild >&2
  zig_ok || { echo "setup: Zig or cargo-zigbuild does not run from $VENV" >&2; exit 1; }
fi
echo "static setup ok: $(/usr/bin/rustc --version), zig $("$VENV/bin/python" -m ziglang version), $("$VENV/bin/cargo-zigbuild" --version)" >&2
echo "$VENV/bin"
