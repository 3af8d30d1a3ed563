#!/usr/bin/env bash
# Installs what the Wine suite needs on Debian, and only what is missing (a second run
# takes well under a second): Debian's Rust with its std sources (for -Zbuild-std), the
# MinGW-w64 linker, Wine 8, and the small tools the suite uses (jq among them; minisign
# signs the releases of the upgrade section, curl is the client of the [[listen]] one).
set -euo pipefail

packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine wine64 procps coreutils minisign curl)
missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
# The suites read tend's JSON with jq: checked as the binary, wherever it came from.
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    "${missing[@]}" >/dev/null
fi
for tool in /usr/bin/cargo /usr/bin/rustc x86_64-w64-mingw32-gcc wine wineserver jq minisign curl; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is still missing" >&2; exit 1; }
done

# What the build needs of Debian's Rust, checked as capabilities, not package names: a
# machine may hold an older rustc-web (1.85, from the base suite) that lacks the
# x86_64-win7-windows-gnu target, or is older than the workspace's rust-version.
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$(dirname "$0")/../../Cargo.toml")
rust_ok() {
  local have
  /usr/bin/rustc --print target-list 2>/dev/null | grep -qx x86_64-win7-windows-gnu || return 1
  have=$(/usr/bin/rustc --version | awk '{print $2}')
  [ "$(printf '%s\n%s\n' "$msrv" "$have" | sort -V | head -n1)" = "$msrv" ]
}
if ! rust_ok; then
  echo "==> $(/usr/bin/rustc --version) lacks x86_64-win7-windows-gnu or is older than $msrv: upgrading"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    rustc-web cargo-web rust-web-src >/dev/null
  rust_ok || {
    echo "setup: $(/usr/bin/rustc --version) still lacks x86_64-win7-windows-gnu or is older than $msrv (Debian's security suite has rustc-web 1.96)" >&2
    exit 1
  }
fi
echo "wine setup ok: $(/usr/bin/rustc --version), $(wine --version 2>/dev/null)"
