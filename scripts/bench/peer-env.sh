# Sourced by the benchmark scripts: the PyTorch peer's Python and the Swift build.
# VENV (default .venv-bench in the repository): a virtualenv with torch + timm, created if missing.
# torch 2.5.1 is the version the reference fixtures were recorded with; PyPI's newest torch needs
# the CUDA libraries and its CPU-only wheels have no matching torchvision (which timm imports).
VENV="${VENV:-.venv-bench}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, timm" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.5.1 torchvision==0.20.1 timm numpy
fi
PYTHON="$VENV/bin/python"

# Builds a benchmark product in release mode and sets SWIFT_BIN to it.
build_swift_product() {
    local log
    if ! log=$(swift build -c release --product "$1" 2>&1); then echo "$log" >&2; exit 1; fi
    SWIFT_BIN="$(swift build -c release --show-bin-path)/$1"
}
