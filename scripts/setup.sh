#!/usr/bin/env bash
# Installs every system package fssam needs on Debian 12 and builds the release binary.
# Idempotent: packages already present are not reinstalled and `apt-get update` runs at most
# once, only when something is missing. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the four system libraries the Swift targets link, their pkg-config files,
# lmdb-utils (mdb_stat/mdb_dump read our cache), OpenSSL's libcrypto for SHA-256.
packages=(pkg-config libvips-dev liblmdb-dev lmdb-utils libzstd-dev libopenblas-dev libssl-dev)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "setup: system packages present"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }
swift build -c release
echo "setup: built $(swift build -c release --show-bin-path)/fssam"
