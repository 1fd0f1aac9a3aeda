#!/usr/bin/env bash
# Installs every system package fssam needs on Debian 12 and builds the release binary.
# Idempotent: packages already present are not reinstalled and `apt-get update` runs at most
# once, only when something is missing. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the four system libraries the Swift targets link, their pkg-config files,
# lmdb-utils (mdb_stat/mdb_dump read our cache), OpenSSL's libcrypto for SHA-256, Python with
# pip for the pycocotools check below, and Slurm + munge for the test on a real Slurm
# (scripts/cluster/slurm_test.sh starts its own private daemons; nothing is enabled as a service).
packages=(pkg-config libvips-dev liblmdb-dev lmdb-utils libzstd-dev libopenblas-dev libssl-dev python3 python3-pip
          slurm-wlm munge)

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

# pycocotools is the oracle for our COCO RLE: ExportTests decode our masks with it and fail
# (not skip) without it. Debian 12 marks its Python "externally managed" (PEP 668), where plain
# pip refuses; --break-system-packages is pip's documented override when no venv is wanted.
if ! python3 -c "import pycocotools" >/dev/null 2>&1; then
    echo "setup: installing pycocotools and numpy (pip)"
    pip_quiet=(-q --disable-pip-version-check --root-user-action=ignore)
    python3 -m pip install "${pip_quiet[@]}" pycocotools numpy 2>/dev/null \
        || python3 -m pip install "${pip_quiet[@]}" --break-system-packages pycocotools numpy
    python3 -c "import pycocotools.mask" || { echo "setup: pycocotools did not install" >&2; exit 1; }
else
    echo "setup: pycocotools present"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }
swift build -c release
echo "setup: built $(swift build -c release --show-bin-path)/fssam"
