#!/usr/bin/env bash
# tmux, for tests/top.rs: it runs `tend top` in a tmux session, sends keys and reads
# the screen back with capture-pane. Installed from Debian when missing.
set -euo pipefail
command -v tmux >/dev/null && exit 0
echo "==> installing tmux (for the tend top test)"
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends tmux >/dev/null
command -v tmux >/dev/null || { echo "need-tmux: tmux is still missing" >&2; exit 1; }
