#!/usr/bin/env bash
# Installs the Debian packages priorft builds and tests with (needs root, or sudo).
set -euo pipefail
packages=(build-essential cmake pkg-config libdnnl-dev libjansson-dev libpcre2-dev
          libutf8proc-dev libcmocka-dev gnuplot-nox
          figlet wamerican python3 python3-pip)  # the demo: figlet fonts, words, model fetch
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
