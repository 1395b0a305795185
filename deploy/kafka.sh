#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1 for dev and tests.
#
#   deploy/kafka.sh fetch            jars from Maven Central (via deploy/kafka/pom.xml) into the cache
#   deploy/kafka.sh start            fetch if needed, format storage once, start, wait until it answers
#   deploy/kafka.sh stop             SIGTERM, up to 30 s, then SIGKILL (exit 0 if not running)
#   deploy/kafka.sh status           prints "running" and exits 0 if it answers, else exits 1
#   deploy/kafka.sh reset            stop + delete the data dir
#   deploy/kafka.sh topics ARGS...   org.apache.kafka.tools.TopicCommand against this broker
#
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (-Xms1g -Xmx1g),
#      KAFKA_JVM_OPTS (Kafka's own: G1, 20 ms pause goal, ...; GC pauses go to DATA/gc.log),
#      KAFKA_DATA_DIR ($TESSERA_CACHE/kafka-data-$KAFKA_PORT), TESSERA_CACHE (~/.cache/tessera),
#      KAFKA_VERSION (3.9.1), KAFKA_START_TIMEOUT (90 s), KAFKA_EXTRA_PROPS ("k=v k=v" appended).
#
# Measured on the 2-core dev box (Debian 12, JDK 17, Kafka 3.9.1, 105 jars / 56 MB):
#   cold fetch (empty ~/.m2 and cache) 4.2-5.4 s; refetch from ~/.m2 2.1 s; cached fetch 0.01 s
#   first start (random-uuid + format + boot) 2.4-2.9 s; warm start 1.6-2.1 s, no network needed
#   stop (clean SIGTERM) 2.0 s; start when already running 0.02 s; topics command ~0.65 s
#   start after a kill -9 ~14 s: the controller waits out the old registration (broker.session.timeout.ms 9 s).
# JVM: Kafka's own heap and GC defaults (kafka-server-start.sh, kafka-run-class.sh). With the JVM's
# (a 256 MiB start heap, G1's 200 ms pause goal) the broker paused for young and remark GCs every
# ~0.6 s under the collector benchmark: 119-185 pauses, 0.64-0.99 s in all, per broker start of
# three or four runs; with these 24-29 pauses, 0.20-0.32 s, and the collector's single-track p99
# at half rate stayed under 10 ms in 10 of 10 runs on a warm broker against 5 of 10
# (docs/collector.md, 2026-12-05).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
CACHE=${TESSERA_CACHE:-$HOME/.cache/tessera}
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
LIBS=$KAFKA_HOME/libs
PORT=${KAFKA_PORT:-9092}
CTRL=${KAFKA_CONTROLLER_PORT:-9093}
DATA=$(realpath -m -- "${KAFKA_DATA_DIR:-$CACHE/kafka-data-$PORT}")
HEAP=${KAFKA_HEAP:--Xms1g -Xmx1g}
# Kafka's own kafka-run-class.sh defaults (KAFKA_JVM_PERFORMANCE_OPTS); see "JVM" at the top.
JVM_OPTS=${KAFKA_JVM_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}
TIMEOUT=${KAFKA_START_TIMEOUT:-90}
PIDFILE=$DATA/kafka.pid
BOOTSTRAP=127.0.0.1:$PORT
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

log() { echo "kafka.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Marker = version + hash of the pom, so editing the pom refetches.
marker_content() { echo "$KAFKA_VERSION $(sha256sum "$HERE/kafka/pom.xml" | cut -d' ' -f1)"; }

fetch() {
  local want; want=$(marker_content)
  [[ -f $KAFKA_HOME/.fetched && $(<"$KAFKA_HOME/.fetched") == "$want" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (run deploy/install-deps.sh)"
  mkdir -p "$KAFKA_HOME"
  exec 9>"$KAFKA_HOME/.lock"
  flock 9   # another fetch may be running concurrently
  if [[ ! -f $KAFKA_HOME/.fetched || $(<"$KAFKA_HOME/.fetched") != "$want" ]]; then
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
    local tmp=$KAFKA_HOME/libs.tmp.$$
    rm -rf "$tmp"
    if ! mvn -q -B -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        -DoutputDirectory="$tmp" dependency:copy-dependencies >"$KAFKA_HOME/fetch.log" 2>&1; then
      sed "s/\x1b\[[0-9;]*m//g" "$KAFKA_HOME/fetch.log" | tail -n 40 >&2; rm -rf "$tmp"
      die "mvn dependency:copy-dependencies failed for Kafka $KAFKA_VERSION (full log: $KAFKA_HOME/fetch.log)"
    fi
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing in $tmp"
    rm -rf "$LIBS" && mv "$tmp" "$LIBS"
    echo "$want" >"$KAFKA_HOME/.fetched"
    local jars=("$LIBS"/*.jar); log "fetched ${#jars[@]} jars"
  fi
  exec 9>&-
}

tools_log4j() {  # quiet log4j config for CLI tools (warnings to stderr)
  local f=$KAFKA_HOME/tools-log4j.properties
  [[ -f $f ]] || printf '%s\n' 'log4j.rootLogger=WARN, stderr' \
    'log4j.appender.stderr=org.apache.log4j.ConsoleAppender' 'log4j.appender.stderr.Target=System.err' \
    'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout' \
    'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n' >"$f"
  echo "$f"
}

kafka_tool() {  # kafka_tool MAIN_CLASS ARGS...
  local cls=$1; shift
  "$JAVA" -Xmx512m "-Dlog4j.configuration=file:$(tools_log4j)" -cp "$LIBS/*" "$cls" "$@"
}

pid_alive() {  # our broker process (pid from pidfile, cmdline matches this data dir) is alive
  local pid cmdline
  [[ -f $PIDFILE ]] && pid=$(<"$PIDFILE") && [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
    && cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) \
    && [[ $cmdline == *"kafka.Kafka $DATA/server.properties"* ]]
}

answering() {  # broker returns metadata listing itself
  command -v kcat >/dev/null || die "kcat not found (run deploy/install-deps.sh)"
  port_busy "$PORT" || return 1   # fast path: kcat would retry until -m timeout
  local md; md=$(kcat -b "$BOOTSTRAP" -L -t __none -m 5 2>/dev/null) || true
  [[ $md == *"broker 1 at $BOOTSTRAP"* ]]
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
  mkdir -p "$DATA/logs"
  cat >"$DATA/server.properties" <<EOF
# Generated by deploy/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CTRL
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CTRL
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/logs
num.partitions=4
offsets.topic.replication.factor=1
# Small internal topics: a 50-partition __consumer_offsets makes the first group join slow.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  local extra; read -ra extra <<<"${KAFKA_EXTRA_PROPS:-}"   # later keys override earlier ones
  ((${#extra[@]} == 0)) || printf '%s\n' "${extra[@]}" >>"$DATA/server.properties"
  cat >"$DATA/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$DATA/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

wait_ready() {  # until the broker answers; on exit/timeout: show logs, stop it, fail
  local deadline=$((SECONDS + TIMEOUT)) why=
  while ! answering; do
    if [[ -s $PIDFILE ]] && ! kill -0 "$(<"$PIDFILE")" 2>/dev/null; then why="the broker process exited"
    elif ((SECONDS >= deadline)); then why="no answer on $BOOTSTRAP within ${TIMEOUT}s"; fi
    if [[ -n $why ]]; then
      log "$why; last log lines:"
      local f; for f in "$DATA/kafka.out" "$DATA/server.log"; do
        [[ -s $f ]] && { echo "==> $f <==" >&2; tail -n 25 "$f" >&2; }
      done
      stop >/dev/null 2>&1 || true
      die "start failed: $why (logs in $DATA)"
    fi
    sleep 0.5
  done
  log "running (pid $(<"$PIDFILE")); bootstrap: $BOOTSTRAP"
  echo "$BOOTSTRAP"
}

start() {
  mkdir -p "$DATA"
  exec 8>"$DATA/.start.lock"; flock 8   # serialize concurrent starts on one data dir
  if pid_alive; then
    answering && { log "already running (pid $(<"$PIDFILE"), data $DATA)"; echo "$BOOTSTRAP"; return 0; }
    log "broker pid $(<"$PIDFILE") is up but not answering yet; waiting for it"
    wait_ready; return
  fi
  rm -f "$PIDFILE"
  for p in "$PORT" "$CTRL"; do
    port_busy "$p" && die "port 127.0.0.1:$p already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  done
  command -v kcat >/dev/null || die "kcat not found (run deploy/install-deps.sh)"
  command -v "$JAVA" >/dev/null || die "java not found (run deploy/install-deps.sh)"
  fetch
  write_config
  if [[ ! -f $DATA/logs/meta.properties ]]; then
    [[ -s $DATA/cluster.id ]] || kafka_tool kafka.tools.StorageTool random-uuid >"$DATA/cluster.id"
    log "formatting storage in $DATA/logs (cluster id $(<"$DATA/cluster.id"))"
    kafka_tool kafka.tools.StorageTool format -t "$(<"$DATA/cluster.id")" \
      -c "$DATA/server.properties" --ignore-formatted >"$DATA/format.log" 2>&1 \
      || { cat "$DATA/format.log" >&2; die "storage format failed"; }
  fi
  [[ -f $DATA/server.log ]] && mv -f "$DATA/server.log" "$DATA/server.log.prev"  # this run's log only
  local heap jvm; read -ra heap <<<"$HEAP"; read -ra jvm <<<"$JVM_OPTS"
  log "starting Kafka $KAFKA_VERSION on $BOOTSTRAP (controller :$CTRL, data $DATA)"
  # setsid+nohup: detached from this shell's session/terminal; the inner bash records its own
  # pid and execs java, so the pidfile holds the JVM's pid.
  # shellcheck disable=SC2016
  PIDFILE=$PIDFILE setsid nohup bash -c 'echo $$ >"$PIDFILE"; exec "$@"' kafka \
    "$JAVA" "${heap[@]}" "${jvm[@]}" "-Xlog:gc:file=$DATA/gc.log:time,uptime:filecount=2,filesize=10M" \
    "-Dlog4j.configuration=file:$DATA/log4j.properties" -cp "$LIBS/*" \
    kafka.Kafka "$DATA/server.properties" >"$DATA/kafka.out" 2>&1 </dev/null 8>&- &
  wait_ready
}

stop() {
  if ! pid_alive; then rm -f "$PIDFILE"; log "not running ($DATA)"; return 0; fi
  local pid; pid=$(<"$PIDFILE")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "still alive after 30 s, SIGKILL $pid"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

status() {
  if pid_alive && answering; then
    echo running; log "pid $(<"$PIDFILE"), bootstrap $BOOTSTRAP, data $DATA"; return 0
  fi
  echo "not running"; return 1
}

reset() {
  stop
  [[ -n $DATA && $DATA != / && $DATA != "$HOME" ]] || die "refusing to delete '$DATA'"
  rm -rf "$DATA"
  log "deleted $DATA"
}

topics() {
  fetch
  local a; for a in "$@"; do [[ $a == --bootstrap-server ]] && { kafka_tool org.apache.kafka.tools.TopicCommand "$@"; return; }; done
  answering || die "no broker answering on $BOOTSTRAP (deploy/kafka.sh start)"
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"
}

cmd=${1:-}; shift || true
case $cmd in
  fetch) fetch; log "Kafka $KAFKA_VERSION jars ready in $LIBS" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) reset ;;
  topics) topics "$@" ;;
  *) echo "usage: $0 {start|stop|status|fetch|reset|topics ARGS...}" >&2; exit 2 ;;
esac
