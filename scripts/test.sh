#!/usr/bin/env bash
# The whole test suite. Release mode: the numerical tests are 10-100x slower in debug Swift.
# -enable-testing keeps `@testable import` available in release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift test -c release -Xswiftc -enable-testing --disable-swift-testing "$@"
