#!/usr/bin/env bash
# The README's run command: installs what is needed, builds tessera, starts a real local Kafka
# broker (deploy/kafka.sh), runs `tessera run` on it, loads the sample events in deploy/samples/,
# and shows each sample customer's unified profile.
#   Stop everything afterwards with: deploy/quickstart.sh stop
# Env: KAFKA_PORT (9092), DATA_DIR (./tessera-data), JOBS (nproc)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PORT=${KAFKA_PORT:-9092}
BROKERS=127.0.0.1:$PORT
DATA_DIR=${DATA_DIR:-$PWD/tessera-data}
PIDFILE=$DATA_DIR/tessera.pid
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/tessera/ccache}

if [[ ${1:-} == stop ]]; then
  [[ -f $PIDFILE ]] && kill "$(cat "$PIDFILE")" 2>/dev/null && echo "stopped tessera run"
  rm -f "$PIDFILE"
  deploy/kafka.sh stop
  exit 0
fi

deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${JOBS:-$(nproc)}" --target tessera
TESSERA=build/app/tessera

deploy/kafka.sh start
$TESSERA topics create --brokers "$BROKERS"

mkdir -p "$DATA_DIR"
if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "tessera run is already running (pid $(cat "$PIDFILE"))"
else
  nohup $TESSERA run --brokers "$BROKERS" --data-dir "$DATA_DIR" >"$DATA_DIR/tessera.log" 2>&1 &
  echo $! >"$PIDFILE"
  echo "tessera run started (pid $!, log $DATA_DIR/tessera.log)"
fi

for channel in web social purchase; do
  $TESSERA import --channel "$channel" --brokers "$BROKERS" "deploy/samples/$channel.ndjson"
done

echo "waiting for the profiles..."
sleep 3
# The four sample customers (deploy/samples/README.md says what each profile should show).
for id in $(grep -o '^### `tessera profile get [^`]*' deploy/samples/README.md | sed 's/.* //'); do
  for _ in $(seq 1 30); do
    $TESSERA profile get "$id" --data-dir "$DATA_DIR" >/dev/null 2>&1 && break
    sleep 1
  done
  echo
  echo "### tessera profile get $id"
  $TESSERA profile get "$id" --data-dir "$DATA_DIR"
done
echo
echo "Rejected sample lines are on the dead-letter topic:"
echo "  kcat -b $BROKERS -C -t tessera.dlq -e -q -f 'headers: %h\n'"
echo "Profile updates as downstream tools see them:"
echo "  kcat -b $BROKERS -C -t tessera.profile-updates -e"
echo "Stop with: deploy/quickstart.sh stop"
