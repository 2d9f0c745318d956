#!/usr/bin/env bash
# Installs the Debian packages plotboss needs beyond Python (rsync for archiving and its tests; tmux for the test of
# `plotboss-cli watch` in a real terminal).
# As root it installs them with apt-get; otherwise it says what to install and fails.
set -euo pipefail
missing=()
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "plotboss needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
