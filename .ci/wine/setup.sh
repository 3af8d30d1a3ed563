#!/usr/bin/env bash
# Installs what the Wine suite needs on Debian, and only what is missing (a second run
# takes well under a second): Debian's Rust with its std sources (for -Zbuild-std), the
# MinGW-w64 linker, Wine 8, and the small tools the suite uses.
set -euo pipefail

packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine wine64 procps coreutils)
missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    "${missing[@]}" >/dev/null
fi
for tool in /usr/bin/cargo /usr/bin/rustc x86_64-w64-mingw32-gcc wine wineserver; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is still missing" >&2; exit 1; }
done
echo "wine setup ok: $(/usr/bin/rustc --version), $(wine --version 2>/dev/null)"
