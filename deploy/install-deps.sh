#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera needs to build, test and run a local Kafka.
# Idempotent: when every package is already installed it skips apt entirely (~0.1 s).
# Runs as root, or through sudo when not root.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  librdkafka-dev librocksdb-dev libprotobuf-dev protobuf-compiler libabsl-dev
  libgtest-dev libgmock-dev libphonenumber-dev libicu-dev libsimdjson-dev libbenchmark-dev libyaml-cpp-dev libevent-dev
  libjemalloc-dev zlib1g-dev libssl-dev libcurl4-openssl-dev tzdata python3 python3-venv valgrind
  kcat openjdk-17-jre-headless maven
  chromium curl  # collector e2e: @segment/analytics-next in headless Chromium; curl posts in tests
)

log() { echo "install-deps: $*" >&2; }

missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  log "all ${#PKGS[@]} packages already installed"
  exit 0
fi

if ((EUID == 0)); then
  as_root() { "$@"; }
elif command -v sudo >/dev/null; then
  as_root() { sudo "$@"; }
else
  log "ERROR: not root and sudo not found; as root run: apt-get install ${missing[*]}"; exit 1
fi

log "installing ${#missing[@]} missing package(s): ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
log "done"
