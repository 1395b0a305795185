#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and passes every test.
#   1. deploy/install-deps.sh (Debian packages; fast when already there)
#   2. build/ (RelWithDebInfo): every test, including the end-to-end tests on a real Kafka broker
#      that ctest's `kafka` fixture starts from deploy/kafka.sh on 127.0.0.1:19092 and wipes after
#   3. build-asan/ (AddressSanitizer + UBSan): the unit tests (label `unit`) and the integration tests
#      that need no broker (label `integration-asan`: librdkafka's mock cluster, a real receiver)
# Env: JOBS (default: nproc), SKIP_ASAN=1 to skip step 3 locally.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
JOBS=${JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/tessera/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Paths relative to the checkout, and no build directory in the hash: a fresh clone elsewhere (CI)
# reuses what an earlier build of the same sources compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

deploy/install-deps.sh
deploy/kafka.sh fetch
# The collector's end-to-end tests run the real Segment and RudderStack Node SDKs, which need
# Node.js 20 or newer (this machine image ships it; Debian 12's own nodejs package is 18).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "test.sh: Node.js >= 20 with npm is needed for the collector e2e tests (found: ${node_major})" >&2
  exit 1
fi

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_BUILD_TESTS=ON >/dev/null
cmake --build build -j "$JOBS"

step "tests: unit, pipeline and end-to-end on a real Kafka broker"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900

if [[ ${SKIP_ASAN:-0} != 1 ]]; then
  step "build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTESSERA_SANITIZE=ON -DTESSERA_BUILD_TESTS=ON >/dev/null
  cmake --build build-asan -j "$JOBS"
  step "tests under ASan + UBSan: unit, and integration without a broker"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" -L '^(unit|integration-asan)$'
fi
step "all tests passed"
