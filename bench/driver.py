#!/usr/bin/env python3
"""Runs the benchmark against a running broker and writes the results file (JSON).

Called by bench/run, which builds the binaries and starts the broker. Every measurement records
the load average before and after it, because the machine is shared; ratios are only ever taken
between figures of the same run.

Order of a run (one fresh topic prefix per run, so nothing is left over from earlier runs):
  1. produce the workload into PREFIX raw topics (tessera-bench produce)
  2. B_pass over those topics (tessera-bench pass)
  3. scenario 1, fused: `tessera run --max-records N` as its own process on the same topics;
     CPU from /proc/<pid>/stat (sampled) and wait4's rusage; processing time from its own log
     (first partition assignment to "stopped after N records"); then the sustainable rate: a
     bisection over steady offered loads (tessera-bench latency) for the highest without growing lag,
     and scenarios 2 (latency) and 4 (recovery) at shares of it
  4. scenario 3: footprint of the store tessera left, as left and compacted (tessera-bench store);
     the same after a second run of `tessera run` over more events of the same population
     (tessera-bench produce --skip); memory: two more fused drains of equal length over two
     population sizes at a fixed block cache
  5. B_kv with the mean profile value size found in 4 (tessera-bench kv)
  6. B_parse and the Kafka-less pipeline on the same workload (tessera-bench parse, pipeline)
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

MODES = {
    # people, events: --quick must finish well under 10 minutes on the 2-core box, build excluded.
    # latency_s: measured seconds per latency run (after a 5 s warm-up), four runs.
    # recovery_s: length of the recovery run; the kill comes at a third of it.
    # sustain_s, sustain_steps: seconds each offered rate is held (after a 5 s warm-up) while searching
    # for the highest rate without growing lag, and how many halvings of the interval the search makes;
    # the issue asks for 2 minutes without growing lag, 5 in the full run.
    # updates: events of the same population applied after the load, before the second footprint
    # (None: an hour at half the sustainable rate, the "hour-equivalent of updates").
    # memory_people, memory_cache_mb, memory_events: the two populations whose fused drains give RSS
    # at a fixed block cache and the marginal bytes per profile between them. Both drains take the
    # same number of events, so memtables, Kafka queues and the block cache fill alike and the
    # difference is what the number of profiles costs. Their activity is uniform (--zipf 0): the
    # question is memory per profile, and a Zipf-skewed 10M-person drain grows its busiest profiles
    # to hundreds of thousands of events, whose every change costs in proportion (docs/benchmarks.md,
    # "Full run"), and would take hours.
    "quick": {"people": 100_000, "events": 200_000, "kv_ops": 200_000, "latency_s": 15, "recovery_s": 30,
              "sustain_s": 20, "sustain_steps": 3, "updates": 200_000,
              "memory_people": (25_000, 100_000), "memory_cache_mb": 16, "memory_events": 200_000},
    "full": {"people": 1_000_000, "events": 3_000_000, "kv_ops": 1_000_000, "latency_s": 60, "recovery_s": 90,
             "sustain_s": 300, "sustain_steps": 4, "updates": None,
             "memory_people": (1_000_000, 10_000_000), "memory_cache_mb": 1024, "memory_events": 10_000_000},
}


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "mem_total_bytes": mem_kb * 1024,
            "kernel": platform.release(), "hostname_hash": hash(platform.node()) & 0xffff}


def proc_cpu_seconds(pid):
    """utime+stime of a live process (and its threads) from /proc/<pid>/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[21]) * PAGE
    except (OSError, IndexError):
        return None


def kafka_pid(data_dir):
    try:
        with open(os.path.join(data_dir, "kafka.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Measure:
    """Load average and broker CPU around one measurement."""

    def __init__(self, broker_pid):
        self.broker_pid = broker_pid

    def __enter__(self):
        self.load_start = loadavg()
        self.t0 = time.time()
        b = proc_cpu_seconds(self.broker_pid) if self.broker_pid else None
        self.broker0 = b[0] if b else None
        return self

    def __exit__(self, *exc):
        self.load_end = loadavg()
        self.wall = time.time() - self.t0
        b = proc_cpu_seconds(self.broker_pid) if self.broker_pid else None
        self.broker_cpu = (b[0] - self.broker0) if (b and self.broker0 is not None) else None
        return False

    def record(self):
        return {"load_avg_start": self.load_start, "load_avg_end": self.load_end,
                "wall_s": round(self.wall, 3), "broker_cpu_s": self.broker_cpu}


def run_json(cmd, log):
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def log_time(line):
    m = LOG_TIME.match(line)
    if not m:
        return None
    return datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()


def run_tessera(tessera, args, log_path, sample_every=0.25):
    """Runs tessera to completion, sampling its CPU and RSS; returns samples and rusage."""
    with open(log_path, "w") as log:
        start = time.time()
        proc = subprocess.Popen([tessera] + args, stdout=log, stderr=subprocess.STDOUT)
        samples = []
        while True:
            s = proc_cpu_seconds(proc.pid)
            if s:
                samples.append({"t": round(time.time() - start, 3), "cpu_s": s[0], "rss_bytes": s[1]})
            try:
                _, status, usage = os.wait4(proc.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if _ != 0:
                break
            time.sleep(sample_every)
        wall = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"tessera exited with {os.waitstatus_to_exitcode(status)}; see {log_path}")
    assigned, stopped, progress = log_progress(log_path)
    return {
        "wall_s": round(wall, 3),
        "processing_s": round(stopped - assigned, 3) if assigned and stopped else None,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_bytes": usage.ru_maxrss * 1024,
        "samples": samples,
        "progress": progress,
    }


PROGRESS = re.compile(r" INFO \w+: (\d+) records \((\d+)/s\)")
BATCHES = re.compile(r" INFO \w+: \d+ records \(\d+/s\) in \d+ batches of (\d+);")


def batch_sizes(log_path):
    """The mean batch size of each progress line of a tessera run log (every 10 s)."""
    with open(log_path) as f:
        return [int(m.group(1)) for m in map(BATCHES.search, f) if m]


def log_progress(log_path):
    """From a tessera run log: when it was first assigned partitions and when it stopped (epoch s),
    and its progress lines (every 10 s: records so far and the rate since the last line), with t in
    seconds since the assignment."""
    assigned = stopped = None
    progress = []
    with open(log_path) as f:
        for line in f:
            if assigned is None and " INFO assigned " in line:
                assigned = log_time(line)
            if "stopped after" in line:
                stopped = log_time(line)
            m = PROGRESS.search(line)
            if m and assigned is not None:
                progress.append({"t": round(log_time(line) - assigned, 3), "records": int(m.group(1)),
                                 "per_s": int(m.group(2))})
    return assigned, stopped, progress


# Inclusive instruction shares of the pipeline's parts, relative to the whole measured loop.
PROFILE_PARTS = [
    ("ingest: parse + normalize (EventParser::Parse)", "tessera::ingest::EventParser::Parse("),
    ("dedup: messageId seen? (DuplicateFilter::SeenBefore)", "tessera::ingest::DuplicateFilter::SeenBefore("),
    ("identity: resolve (IdentityResolver::Resolve)", "tessera::identity::IdentityResolver::Resolve("),
    ("reads through the staged view (StagedWrites::Get)", "tessera::StagedWrites::Get"),
    ("  of which RocksDB Get", "tessera::RocksStore::Get"),
    ("profiles: finish batch (ProfileBatch::Finish)", "tessera::app::ProfileBatch::Finish("),
    ("profile-updates JSON (ProfileUpdateOutput)", "tessera::app::ProfileUpdateOutput("),
    ("commit: one WriteBatch (StagedWrites::Commit)", "tessera::StagedWrites::Commit("),
    ("  of which memtable inserts (MemTable::Add)", "rocksdb::MemTable::Add("),
    ("JSON string escaping, everywhere (AppendJsonString, self)", None),
    ("malloc/free (self; whole process, incl. generating the corpus)", None),
]


def callgrind_profile(bench, work, events, log):
    out = os.path.join(work, "callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", bench, "pipeline",
           "--dir", os.path.join(work, "cg-store"), "--people", str(events), "--events", str(events)]
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log, check=True)
    inclusive = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout.splitlines()
    exclusive = subprocess.run(["callgrind_annotate", out], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout.splitlines()

    def ir_of(lines, needle):
        for line in lines:
            if needle in line:
                return int(line.split()[0].replace(",", ""))
        return 0

    total = ir_of(inclusive, "tessera::app::FusedPipeline::Apply(") + ir_of(inclusive, "tessera::app::FusedPipeline::FinishBatch(") \
        + ir_of(inclusive, "tessera::StagedWrites::Commit(") + ir_of(inclusive, "tessera::app::ProfileUpdateOutput(")
    parts = []
    for label, needle in PROFILE_PARTS:
        if needle:
            ir = ir_of(inclusive, needle)
        elif "AppendJsonString" in label:
            ir = ir_of(exclusive, "tessera::AppendJsonString(")
        else:
            ir = sum(ir_of(exclusive, n) for n in ("malloc.c:_int_free", "malloc.c:malloc ", "malloc.c:_int_malloc", "malloc.c:free "))
        parts.append({"part": label, "instructions": ir, "share": ir / total if total else None})
    return {"tool": "valgrind --tool=callgrind (instruction counts, Ir)", "events": events,
            "loop_instructions": total, "instructions_per_event": total / events, "parts": parts,
            "command": " ".join(["valgrind --tool=callgrind", "tessera-bench pipeline", "--people", str(events),
                                 "--events", str(events)])}


def last_update_ms(brokers, topic):
    """The newest record timestamp (ms) over the topic's partitions, or None if it is empty."""
    out = subprocess.run(["kcat", "-b", brokers, "-C", "-t", topic, "-o", "-1", "-e", "-q", "-f", "%T\n"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
    stamps = [int(x) for x in out.split() if x.lstrip("-").isdigit()]
    return max(stamps) if stamps else None


def start_stage(tessera, stage, brokers, prefix, data_dir, batch_size, log_path, extra=()):
    """One stage process (`tessera ingest|identity|profiles|sinks`) on `prefix`'s topics; its output
    goes to log_path."""
    with open(log_path, "w") as log:
        return subprocess.Popen([tessera, stage, "--brokers", brokers, "--topic-prefix", prefix, "--data-dir", data_dir,
                                 "--batch-size", str(batch_size)] + list(extra), stdout=log, stderr=subprocess.STDOUT)


DISTRIBUTED_STAGES = ("ingest", "identity", "profiles", "sinks")


def run_distributed(tessera, brokers, prefix, data_dir, events, batch_size, work, quiet_s=5.0, timeout_s=900):
    """ingest, identity, profiles and sinks as four processes on preloaded raw topics. ingest and identity
    stop after N records; the run ends when profile-updates has taken no new record for quiet_s after that.
    events/s = N / (newest profile-update timestamp - ingest's first partition assignment)."""
    procs = {}
    start = time.time()
    for stage in DISTRIBUTED_STAGES:
        extra = ["--max-records", str(events)] if stage in ("ingest", "identity") else []
        procs[stage] = start_stage(tessera, stage, brokers, prefix, data_dir, batch_size,
                                   os.path.join(work, f"dist-{stage}.log"), extra)
    usage = {}

    def reap(stage, block=False):
        proc = procs[stage]
        pid, status, ru = os.wait4(proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        usage[stage] = (os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024)
        return True

    deadline = start + timeout_s
    while time.time() < deadline and not all(st in usage or reap(st) for st in ("ingest", "identity")):
        time.sleep(0.25)
    newest, unchanged_since = None, time.time()
    while time.time() < deadline:
        ts = last_update_ms(brokers, prefix + "profile-updates")
        if ts != newest:
            newest, unchanged_since = ts, time.time()
        elif time.time() - unchanged_since >= quiet_s:
            break
        time.sleep(0.5)
    # os.kill, not Popen.send_signal/kill: those reap a child that has already exited, and the
    # wait4 below (for its rusage) then fails with ECHILD. A stage that died early is reaped first.
    for stage in ("profiles", "sinks"):
        if stage not in usage and not reap(stage):
            os.kill(procs[stage].pid, signal.SIGTERM)
            reap(stage, block=True)
    for stage in procs:
        if stage not in usage and not reap(stage):
            os.kill(procs[stage].pid, signal.SIGKILL)
            reap(stage, block=True)
    # Every stage ends by the --max-records stop or the SIGTERM above, with exit code 0; any other
    # end means the drain did not finish, and the rate below would describe a pipeline that died.
    failed = {st: u[0] for st, u in usage.items() if u[0] != 0}
    assigned = None
    with open(os.path.join(work, "dist-ingest.log")) as f:
        for line in f:
            if " INFO assigned " in line:
                assigned = log_time(line)
                break
    first = assigned or start
    seconds = (newest / 1000.0 - first) if newest and not failed else None
    cpu = sum(u[1] for u in usage.values())
    return {
        "events": events,
        "processing_s": round(seconds, 3) if seconds else None,
        "events_per_s": events / seconds if seconds else None,
        "cpu_s": round(cpu, 3),
        "cpu_s_per_million": cpu * 1e6 / events,
        "stages": {st: {"exit_code": u[0], "cpu_s": round(u[1], 3), "max_rss_bytes": u[2]} for st, u in usage.items()},
        "failed": {st: {"exit_code": code, "last_log_line": last_line(os.path.join(work, f"dist-{st}.log"))}
                   for st, code in failed.items()},
        "end": "newest profile-updates timestamp, after ingest and identity had stopped at N records and "
               f"profile-updates then stayed unchanged for {quiet_s:.0f} s",
    }


def last_line(path):
    """The last non-empty line of a log, for saying why a process ended."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1] if lines else ""
    except FileNotFoundError:
        return ""


def wait_for_line(path, needle, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with open(path) as f:
                if needle in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    return False


def stop_process(proc, timeout_s=30):
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_tessera_run(tessera, brokers, prefix, data_dir, batch_size, log_path, wait_assigned=True, extra=()):
    """`tessera run` on `prefix`'s topics, not stopped after any count; by default returns once it
    has its partitions (so a load offered next is not timed through the group join)."""
    with open(log_path, "w") as f:
        proc = subprocess.Popen([tessera, "run", "--brokers", brokers, "--topic-prefix", prefix, "--data-dir", data_dir,
                                 "--batch-size", str(batch_size)] + list(extra), stdout=f, stderr=subprocess.STDOUT)
    if wait_assigned and not wait_for_line(log_path, " INFO assigned ", 90):
        stop_process(proc)
        raise RuntimeError(f"tessera run did not join its group; see {log_path}")
    return proc


def footprint(bench, store_dir, raw_bytes, log, compact):
    """The store's bytes on disk, as left (compact=False) or after a flush and a full compaction."""
    store = run_json([bench, "store", "--dir", store_dir] + (["--compact", "yes"] if compact else []), log)
    prefixes = store["prefixes"]
    profiles = prefixes.get("pf/", {}).get("keys", 0)
    disk = store["sst_bytes"] + store["wal_bytes"]
    pf_sst = prefixes.get("pf/", {}).get("sst_bytes", 0)
    return dict(store, profiles=profiles, merged_away=prefixes.get("pr/", {}).get("keys", 0), disk_bytes=disk,
                disk_bytes_per_profile=disk / max(profiles, 1), raw_logical_bytes=raw_bytes,
                disk_over_raw_logical=disk / max(raw_bytes, 1),
                profile_record_sst_bytes_per_profile=pf_sst / max(profiles, 1),
                mean_profile_value_bytes=(prefixes["pf/"]["logical_bytes"] / profiles) if profiles else 600,
                compacted=compact)


def run_memory(tessera, bench, brokers, base_prefix, work, people_sizes, events, cache_mb, partitions, seed, batch_size,
               log, keep_largest=False):
    """Scenario 3's memory: a fused drain of the same number of events, uniformly spread, over each
    population size, with a fixed block cache; peak RSS of each and the marginal bytes per profile
    between the two. keep_largest: the last population's data dir is left for scenario 4 at scale
    (its path in "kept_data_dir")."""
    points = []
    kept = None
    for people in people_sizes:
        prefix = f"{base_prefix[:-1]}-mem{people}."
        run_json([bench, "produce", "--brokers", brokers, "--prefix", prefix, "--partitions", str(partitions),
                  "--people", str(people), "--events", str(events), "--seed", str(seed), "--zipf", "0"], log)
        data_dir = os.path.join(work, f"memory-{people}")
        run = run_tessera(tessera, ["run", "--brokers", brokers, "--topic-prefix", prefix, "--data-dir", data_dir,
                                    "--max-records", str(events), "--batch-size", str(batch_size),
                                    "--block-cache-mb", str(cache_mb)],
                          os.path.join(work, f"tessera-memory-{people}.log"))
        store = run_json([bench, "store", "--dir", os.path.join(data_dir, "store")], log)
        if keep_largest and people == people_sizes[-1]:
            kept = data_dir
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
        delete_topics(bench, brokers, prefix, log)  # the full run's 2 x 20M events would not fit otherwise
        # The last samples read a process that is exiting (RSS 0): the last live one is the end.
        tail = [x["rss_bytes"] for x in run["samples"] if x["rss_bytes"]]
        points.append({"people": people, "events": events, "profiles": store["prefixes"].get("pf/", {}).get("keys", 0),
                       "max_rss_bytes": run["max_rss_bytes"],
                       "end_rss_bytes": tail[-1] if tail else None,
                       "events_per_s": events / (run["processing_s"] or run["wall_s"]), "cpu_s": run["cpu_s"]})
    small, large = points[0], points[-1]
    marginal = ((large["max_rss_bytes"] - small["max_rss_bytes"]) / (large["profiles"] - small["profiles"])
                if large["profiles"] > small["profiles"] else None)
    return {"block_cache_mb": cache_mb, "points": points, "marginal_bytes_per_profile": marginal, "kept_data_dir": kept}


def delete_topics(bench, brokers, prefix, log):
    """Deletes every topic under `prefix` once its figures are taken (the broker frees the disk a minute later)."""
    run_json([bench, "topics", "--brokers", brokers, "--prefix", prefix, "--delete", "yes"], log)


def latency_cmd(bench, brokers, prefix, watch, rate, seconds, people, seed, extra=()):
    return [bench, "latency", "--brokers", brokers, "--prefix", prefix, "--watch", watch, "--rate", str(rate),
            "--seconds", str(seconds), "--people", str(people), "--seed", str(seed)] + list(extra)


def run_latency(tessera, bench, brokers, base_prefix, work, rate, seconds, people, seed, batch_size, log):
    """Scenario 2 at one offered load: the fused pipeline, then B_pass, each on fresh topics."""
    out = {}
    tag = int(rate)
    # Tessera: `tessera run` on its own topics, started (and assigned) before the load begins.
    prefix = f"{base_prefix[:-1]}-lat{tag}."
    run_json([bench, "topics", "--brokers", brokers, "--prefix", prefix], log)
    data_dir = os.path.join(work, f"latency-{tag}")
    proc = start_tessera_run(tessera, brokers, prefix, data_dir, batch_size,
                             os.path.join(work, f"latency-{tag}-tessera.log"))
    try:
        cpu0 = proc_cpu_seconds(proc.pid)
        lat = run_json(latency_cmd(bench, brokers, prefix, prefix + "profile-updates", rate, seconds, people, seed + 1),
                       log)["latency"]
        cpu1 = proc_cpu_seconds(proc.pid)
        if cpu0 and cpu1:
            lat["pipeline_cpu_s"] = round(cpu1[0] - cpu0[0], 3)
        out["tessera"] = lat
    finally:
        stop_process(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
    out["tessera"]["batch_sizes"] = batch_sizes(os.path.join(work, f"latency-{tag}-tessera.log"))
    # B_pass at the same absolute load: its consume -> produce loop on its own topics.
    prefix = f"{base_prefix[:-1]}-latpass{tag}."
    run_json([bench, "topics", "--brokers", brokers, "--prefix", prefix], log)
    pass_log = os.path.join(work, f"latency-{tag}-pass.log")
    with open(pass_log, "w") as f:
        proc = subprocess.Popen([bench, "pass", "--brokers", brokers, "--prefix", prefix, "--events", str(10**15),
                                 "--batch-size", str(batch_size)], stdout=subprocess.DEVNULL, stderr=f)
    try:
        out["b_pass"] = run_json(latency_cmd(bench, brokers, prefix, prefix + "bench.pass-out", rate, seconds, people,
                                             seed + 1), log)["latency"]
    finally:
        stop_process(proc)
    return out


def lag_is_steady(probes, offered, achieved):
    """Scenario 1's "no growing lag": every probe arrived, the generator kept its schedule, the
    probes of the last fifth of the run were not slower than those of the first fifth (median
    within 2x + 100 ms: a pipeline that cannot keep up falls further behind with every second), and
    99% of them arrived within 1 s (the recovery target's bound: a lag that is steady but seconds
    long is not keeping up either; a 20 s try is too short to see every slow growth)."""
    if not probes or any(a is None for _, a in probes) or achieved < 0.98 * offered:
        return False
    latencies = sorted(a - s for s, a in probes)
    if latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] > 1000:
        return False
    fifth = max(1, len(probes) // 5)
    first = sorted(a - s for s, a in probes[:fifth])
    last = sorted(a - s for s, a in probes[-fifth:])
    return last[len(last) // 2] <= 2 * first[len(first) // 2] + 100


def clone_data_dir(src, dst):
    """A copy of a closed data dir to run on, without copying its bulk: RocksDB never changes an SST
    file once written, so those are hard links (what its Checkpoint does); everything else (MANIFEST,
    WAL, OPTIONS, CURRENT), which a run appends to or rewrites, is copied."""
    for root, _, files in os.walk(src):
        out = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(out, exist_ok=True)
        for name in files:
            if name.endswith(".sst"):
                os.link(os.path.join(root, name), os.path.join(out, name))
            else:
                shutil.copy2(os.path.join(root, name), os.path.join(out, name))


def fused_starter(tessera, brokers, batch_size, work, base_data_dir=None, extra=()):
    """Starts the fused pipeline of a sustainable-rate try: `tessera run` on a fresh store, or with
    base_data_dir on a clone of that store (every try starts from the same stored profiles)."""
    def start(tag, prefix):
        data_dir = os.path.join(work, tag)
        if base_data_dir:
            clone_data_dir(base_data_dir, data_dir)
        proc = start_tessera_run(tessera, brokers, prefix, data_dir, batch_size,
                                 os.path.join(work, f"{tag}-tessera.log"), extra=extra)
        return [proc], data_dir
    return start


def distributed_starter(tessera, brokers, batch_size, work):
    """Starts the four stage processes of a sustainable-rate try on a fresh data dir, and returns once
    each has its partitions (so the load is not timed through four group joins)."""
    def start(tag, prefix):
        data_dir = os.path.join(work, tag)
        procs, logs = [], []
        for stage in DISTRIBUTED_STAGES:
            logs.append(os.path.join(work, f"{tag}-{stage}.log"))
            procs.append(start_stage(tessera, stage, brokers, prefix, data_dir, batch_size, logs[-1]))
        if not all(wait_for_line(path, " INFO assigned ", 90) for path in logs):
            for proc in procs:
                stop_process(proc)
            raise RuntimeError(f"a stage did not join its group; see {work}/{tag}-*.log")
        return procs, data_dir
    return start


def run_sustainable(tessera, bench, brokers, base_prefix, work, ceiling, seconds, steps, people, seed, batch_size,
                    log, start=None, name="sustain", skip=0):
    """Scenario 1 as the issue defines it: the highest offered rate the pipeline keeps up with (no
    growing lag), by bisection between 0 and `ceiling` (its drain rate). Each try starts the pipeline
    afresh with `start(tag, prefix)` (default: `tessera run` on a fresh store; see fused_starter and
    distributed_starter) on fresh topics, loaded on a schedule for `seconds` after a 5 s warm-up.
    With skip, the load continues the workload of `people` and `seed` from its event `skip` on (the
    drain that filled a cloned store); otherwise each try has a population of its own."""
    start = start or fused_starter(tessera, brokers, batch_size, work)
    lo, hi = 0.0, float(ceiling)
    tries = []
    for step_no in range(steps):
        rate = round((lo + hi) / 2)
        tag = f"{name}-{step_no}"
        prefix = f"{base_prefix[:-1]}-{name}{step_no}."
        run_json([bench, "topics", "--brokers", brokers, "--prefix", prefix], log)
        series_path = os.path.join(work, f"{tag}-series.json")
        load_flags = ["--series-out", series_path] + (["--skip", str(skip)] if skip else [])
        procs, data_dir = start(tag, prefix)
        try:
            cpu0 = [proc_cpu_seconds(proc.pid) for proc in procs]
            lat = run_json(latency_cmd(bench, brokers, prefix, prefix + "profile-updates", rate, seconds, people,
                                       seed if skip else seed + 3 + step_no, load_flags), log)["latency"]
            cpu1 = [proc_cpu_seconds(proc.pid) for proc in procs]
        finally:
            for proc in procs:
                stop_process(proc)
            shutil.rmtree(data_dir, ignore_errors=True)
        delete_topics(bench, brokers, prefix, log)
        with open(series_path) as f:
            series = json.load(f)
        warmup_us = series["probes"][0][0] + lat["warmup_s"] * 1e6 if series["probes"] else 0
        probes = [(s / 1000, a / 1000 if a >= 0 else None) for s, a in series["probes"] if s >= warmup_us]
        steady = lag_is_steady(probes, rate, lat["achieved_per_s"])
        cpu = (round(sum(c1[0] - c0[0] for c0, c1 in zip(cpu0, cpu1)), 3)
               if all(cpu0) and all(cpu1) else None)
        tries.append({"rate": rate, "steady": steady, "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"],
                      "achieved_per_s": lat["achieved_per_s"], "pipeline_cpu_s": cpu})
        if steady:
            lo = rate
        else:
            hi = rate
    return {"events_per_s": lo, "unsteady_at": hi, "ceiling": ceiling, "seconds": seconds, "tries": tries}


def run_recovery(tessera, bench, brokers, base_prefix, work, rate, seconds, people, seed, batch_size, log,
                 name="recovery", data_dir=None, skip=0, tessera_extra=()):
    """Scenario 4: `tessera run` under a steady offered load is killed with SIGKILL and restarted on
    the same data dir; the latency tool's probes say what arrived, when, and whether any was lost.
    By default on an empty store with a population of its own (seed + 2). With data_dir (a store a
    drain of `skip` events of `people` with `seed` filled) and skip: the load continues that
    workload (same people, new messageIds), so the run reads and updates the stored profiles."""
    prefix = f"{base_prefix[:-1]}-{name}."
    run_json([bench, "topics", "--brokers", brokers, "--prefix", prefix], log)
    data_dir = data_dir or os.path.join(work, name)
    series_path = os.path.join(work, f"{name}-series.json")
    proc = start_tessera_run(tessera, brokers, prefix, data_dir, batch_size,
                             os.path.join(work, f"{name}-tessera-1.log"), extra=tessera_extra)
    warmup = 5
    load_flags = ["--warmup-seconds", str(warmup), "--series-out", series_path]
    if skip:
        load_flags += ["--skip", str(skip)]
    cmd = latency_cmd(bench, brokers, prefix, prefix + "profile-updates", rate, seconds - warmup, people,
                      seed if skip else seed + 2, load_flags)
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    restarted = None
    try:
        time.sleep(seconds / 3)
        proc.kill()  # SIGKILL: no flush, no commit, no goodbye
        proc.wait()
        killed = time.monotonic()
        # Not waiting for the group: the first output after the restart includes the join.
        proc = start_tessera_run(tessera, brokers, prefix, data_dir, batch_size,
                                 os.path.join(work, f"{name}-tessera-2.log"), wait_assigned=False, extra=tessera_extra)
        restarted = time.monotonic()
        out, _ = load.communicate(timeout=seconds * 4 + 120)
        summary = json.loads(out.strip().splitlines()[-1])["latency"]
    finally:
        if load.poll() is None:
            load.kill()
        stop_process(proc)
    # Over a drained store: how many profiles the load added (the rest of its events updated stored ones).
    profiles_after = None
    if skip:
        store = run_json([bench, "store", "--dir", os.path.join(data_dir, "store")], log)
        profiles_after = store["prefixes"].get("pf/", {}).get("keys", 0)
    shutil.rmtree(data_dir, ignore_errors=True)
    with open(series_path) as f:
        series = json.load(f)
    restart_ms = restarted * 1000
    first_output = next((t for t, n in series["arrivals_per_10ms"] if t >= restart_ms and n > 0), None)
    probes = [(s_us / 1000, a_us / 1000 if a_us >= 0 else None) for s_us, a_us in series["probes"]]
    lost = sum(1 for _, a in probes if a is None)
    # Lag under 1 s from the first moment after the restart at which every probe arriving later
    # took under 1 s.
    arrived_after = sorted((a, a - s) for s, a in probes if a is not None and a >= restart_ms)
    lag_ok_at = None
    for i in range(len(arrived_after)):
        if all(lat < 1000 for _, lat in arrived_after[i:]):
            lag_ok_at = arrived_after[i][0]
            break
    before_kill = [a - s for s, a in probes if a is not None and a < killed * 1000]
    # What the restarted process did meanwhile: its progress lines (every 10 s, records and rate).
    progress_after = log_progress(os.path.join(work, f"{name}-tessera-2.log"))[2]
    return {
        "rate": rate,
        "seconds": seconds,
        "people": people,
        "continues_drain_of": skip,
        "profiles_after": profiles_after,
        "killed_after_s": round(seconds / 3, 1),
        "restart_gap_ms": round((restarted - killed) * 1000, 1),
        "first_output_after_restart_s": round((first_output - restart_ms) / 1000, 3) if first_output else None,
        "lag_under_1s_after_restart_s": round((lag_ok_at - restart_ms) / 1000, 3) if lag_ok_at else None,
        "probes_sent": len(probes),
        "probes_lost": lost,
        "max_probe_latency_ms": max((a - s for s, a in probes if a is not None), default=None),
        "p50_before_kill_ms": sorted(before_kill)[len(before_kill) // 2] if before_kill else None,
        "progress_after_restart": progress_after,
        "latency": {k: v for k, v in summary.items() if k != "cdf_ms"},
    }


def at_scale(tessera, bench, args, prefix, work, data_dir, memory, fallback_rate, mode, broker_pid, step, log):
    """Scenarios 1 and 4 over the store of the memory scenario's largest population (10M people in the
    full run), with its block cache, under a load that continues its workload (Zipf-skewed, the
    default, over the same people: an event of a person or device the drain met updates a stored
    profile). First the sustainable rate, each try on a clone of that store; then scenario 4 as the
    issue states it, SIGKILL at full load: that rate (fallback_rate, the 1M-person one, if no try
    was steady)."""
    big = memory["points"][-1]
    extra = ["--block-cache-mb", str(memory["block_cache_mb"])]
    step(f"scenario 1 at scale: the highest steady load tessera run keeps up with over the store of "
         f"{big['profiles']:,} profiles, {mode['sustain_steps']} tries of {mode['sustain_s']} s")
    with Measure(broker_pid) as m:
        sustained = run_sustainable(tessera, bench, args.brokers, prefix, work, round(big["events_per_s"]),
                                    mode["sustain_s"], mode["sustain_steps"], big["people"], args.seed,
                                    args.batch_size, log, name="sustain-scale",
                                    start=fused_starter(tessera, args.brokers, args.batch_size, work, data_dir, extra),
                                    skip=big["events"])
    out = {"sustainable_at_scale": dict(sustained, profiles_before=big["profiles"], people=big["people"],
                                        block_cache_mb=memory["block_cache_mb"], **m.record())}
    # With no steady try: the population-of-scenarios rate, or (measured alone) the lowest rate tried.
    rate = sustained["events_per_s"] or fallback_rate or sustained["unsteady_at"]
    step(f"scenario 4 at scale: kill -9 of tessera run at {rate} events/s offered over the store of {big['profiles']:,} "
         f"profiles, restart, {mode['recovery_s']} s")
    with Measure(broker_pid) as m:
        rec = run_recovery(tessera, bench, args.brokers, prefix, work, rate, mode["recovery_s"], big["people"],
                           args.seed, args.batch_size, log, name="recovery-scale", data_dir=data_dir,
                           skip=big["events"], tessera_extra=extra)
    delete_topics(bench, args.brokers, f"{prefix[:-1]}-recovery-scale.", log)
    out["recovery_at_scale"] = dict(rec, profiles_before=big["profiles"], block_cache_mb=memory["block_cache_mb"],
                                    rate_from=("the sustainable rate at scale" if sustained["events_per_s"]
                                               else "no try at scale was steady: " +
                                               ("the sustainable rate of scenario 1" if fallback_rate
                                                else "the lowest rate tried")),
                                    **m.record())
    return out


def distributed(tessera, bench, args, mode, prefix, work, workload_flags, events, people, broker_pid, step, log):
    """Scenario 1 for the four stage processes: their drain of the workload, then their sustainable rate."""
    dist_prefix = prefix[:-1] + "-dist."
    step(f"scenario 1, distributed: the same workload into {dist_prefix}raw.*, four stage processes")
    run_json([bench, "produce", "--brokers", args.brokers, "--prefix", dist_prefix,
              "--partitions", str(args.partitions)] + workload_flags, log)
    with Measure(broker_pid) as m:
        dist = run_distributed(tessera, args.brokers, dist_prefix, os.path.join(work, "distributed"), events,
                               args.batch_size, work)
    out = {"distributed": dict(dist, **m.record())}
    shutil.rmtree(os.path.join(work, "distributed"), ignore_errors=True)
    delete_topics(bench, args.brokers, dist_prefix, log)
    if not dist["events_per_s"]:
        return out
    step(f"scenario 1, distributed, sustainable: the highest steady load the four stages keep up with, "
         f"{mode['sustain_steps']} tries of {mode['sustain_s']} s")
    with Measure(broker_pid) as m:
        sustained = run_sustainable(tessera, bench, args.brokers, prefix, work, round(dist["events_per_s"]),
                                    mode["sustain_s"], mode["sustain_steps"], people, args.seed, args.batch_size,
                                    log, start=distributed_starter(tessera, args.brokers, args.batch_size, work),
                                    name="sustain-dist")
    out["distributed_sustainable"] = dict(sustained, **m.record())
    return out


def fused_drain(tessera, args, prefix, work, data_dir, events, broker_pid):
    """Scenario 1's drain: `tessera run` (fused) over the preloaded raw topics, as its own process."""
    with Measure(broker_pid) as m:
        fused = run_tessera(tessera, ["run", "--brokers", args.brokers, "--topic-prefix", prefix, "--data-dir", data_dir,
                                      "--max-records", str(events), "--batch-size", str(args.batch_size)],
                            os.path.join(work, "tessera-run.log"))
    processing = fused["processing_s"] or fused["wall_s"]
    return {
        "events": events,
        "processing_s": processing,
        "wall_s": fused["wall_s"],
        "events_per_s": events / processing,
        "events_per_s_wall": events / fused["wall_s"],
        "cpu_s": fused["cpu_s"],
        "cpu_s_per_million": fused["cpu_s"] * 1e6 / events,
        "max_rss_bytes": fused["max_rss_bytes"],
        "samples": fused["samples"],
        "progress": fused["progress"],
        **m.record(),
    }


def footprint_and_updates(tessera, bench, args, mode, prefix, data_dir, results, events, people, max_rate, broker_pid,
                          step, log, work):
    """Scenario 3's footprint: the fused drain's store as left and compacted, then after an
    hour-equivalent of updates (half of max_rate for an hour; mode["updates"] events in --quick).
    Fills results; returns the profile count and the mean stored profile size (B_kv's values)."""
    step("scenario 3: footprint of the fused store after the load, as left and compacted")
    store_dir = os.path.join(data_dir, "store")
    raw_bytes = results["workload"]["bytes"]
    results["footprint"] = footprint(bench, store_dir, raw_bytes, log, compact=False)
    results["footprint_compacted"] = footprint(bench, store_dir, raw_bytes, log, compact=True)
    profiles = results["footprint"]["profiles"]
    mean_profile_value = results["footprint"]["mean_profile_value_bytes"]

    updates = mode["updates"] or round(3600 * 0.5 * max_rate)
    step(f"scenario 3: {updates} more events of the same population (updates), then the footprint again")
    with Measure(broker_pid) as m:
        produced_updates = run_json([bench, "produce", "--brokers", args.brokers, "--prefix", prefix, "--partitions",
                                     str(args.partitions), "--people", str(people), "--events", str(events + updates),
                                     "--seed", str(args.seed), "--skip", str(events)], log)
        upd = run_tessera(tessera, ["run", "--brokers", args.brokers, "--topic-prefix", prefix, "--data-dir", data_dir,
                                    "--max-records", str(updates), "--batch-size", str(args.batch_size)],
                          os.path.join(work, "tessera-run-updates.log"))
    raw_all = raw_bytes + produced_updates["produced"]["bytes"]
    results["updates"] = {"events": updates, "hour_equivalent": mode["updates"] is None,
                          "produced": produced_updates["produced"],
                          "events_per_s": updates / (upd["processing_s"] or upd["wall_s"]), "cpu_s": upd["cpu_s"],
                          "max_rss_bytes": upd["max_rss_bytes"], **m.record()}
    results["footprint_after_updates"] = footprint(bench, store_dir, raw_all, log, compact=False)
    results["footprint_after_updates_compacted"] = footprint(bench, store_dir, raw_all, log, compact=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    return profiles, mean_profile_value


def produce_workload(bench, args, prefix, workload_flags, events, people, broker_pid, results, step, log):
    step(f"produce {events} events of {people} people into {prefix}raw.*")
    with Measure(broker_pid) as m:
        produced = run_json([bench, "produce", "--brokers", args.brokers, "--prefix", prefix,
                             "--partitions", str(args.partitions)] + workload_flags, log)
    results["workload"] = produced["workload"]
    results["produce"] = dict(produced["produce"], **m.record())


def latency_and_recovery(tessera, bench, args, mode, prefix, work, max_rate, broker_pid, step, log):
    """Scenarios 2 and 4 at shares of `max_rate`, the sustainable rate (the issue's "that maximum"):
    latency at 50% and 80% of it, tessera run and B_pass, then the kill -9 at 50%; each on fresh topics
    with a population of its own, so they need nothing measured before them but the rate."""
    out = {}
    people = mode["people"]
    if not args.no_latency:
        out["latency"] = []
        for load in (0.5, 0.8):
            rate = round(max_rate * load)
            step(f"scenario 2: latency at {int(load * 100)}% of the sustainable maximum ({rate} events/s), "
                 f"tessera run and B_pass, {mode['latency_s']} s each")
            with Measure(broker_pid) as m:
                lat = run_latency(tessera, bench, args.brokers, prefix, work, rate, mode["latency_s"], people,
                                  args.seed, args.batch_size, log)
            out["latency"].append(dict(lat, load=load, rate=rate, **m.record()))
    if not args.no_recovery:
        rate = round(max_rate * 0.5)
        step(f"scenario 4: kill -9 of tessera run at {rate} events/s offered, restart, {mode['recovery_s']} s")
        with Measure(broker_pid) as m:
            rec = run_recovery(tessera, bench, args.brokers, prefix, work, rate, mode["recovery_s"], people, args.seed,
                               args.batch_size, log)
        out["recovery"] = dict(rec, **m.record())
    return out


def only(args, mode, tessera, bench, work, prefix, broker_pid, results, workload_flags, step, log):
    """--only at-scale|distributed|footprint|latency|throughput: one part of the full run, measured apart
    from the rest. at-scale: the memory scenario's drain of its largest population, then scenarios 1
    and 4 over that store; distributed: the four stages' drain and sustainable rate; footprint: the
    workload, the fused drain and scenario 3's footprint before and after the updates (their number
    from --sustained-rate, a rate measured before, in the full mode); latency: scenarios 2 and 4 at
    shares of --sustained-rate; throughput: see throughput_only. bench/merge.py folds the result into
    a full run's results file."""
    if args.only == "footprint":
        if mode["updates"] is None and not args.sustained_rate:
            raise SystemExit("--only footprint in this mode needs --sustained-rate (events/s) for the updates")
        events, people = mode["events"], mode["people"]
        produce_workload(bench, args, prefix, workload_flags, events, people, broker_pid, results, step, log)
        step("scenario 1: tessera run (fused) drains the raw topics")
        data_dir = os.path.join(work, "fused")
        results["fused"] = fused_drain(tessera, args, prefix, work, data_dir, events, broker_pid)
        footprint_and_updates(tessera, bench, args, mode, prefix, data_dir, results, events, people,
                              args.sustained_rate or 0, broker_pid, step, log, work)
        return
    if args.only == "latency":
        if not args.sustained_rate:
            raise SystemExit("--only latency needs --sustained-rate (events/s): its loads are shares of it")
        results["sustained_rate"] = args.sustained_rate
        # In the full run the broker has served the drains and the sustainable tries before these
        # loads; here it may be fresh, and a fresh broker's JVM (code not yet compiled) adds tens of
        # milliseconds to the tail (p99 28.3 ms at 5,551/s on a fresh broker, 19.1-19.4 ms on a warm
        # one, 2026-12-07). So a throw-away run at the first load warms it first.
        rate = round(args.sustained_rate * 0.5)
        step(f"warming the broker: scenario 2's first load ({rate} events/s), not counted")
        warm_work = os.path.join(work, "warm-up")
        os.makedirs(warm_work, exist_ok=True)
        with Measure(broker_pid) as m:
            warm = run_latency(tessera, bench, args.brokers, prefix + "warm.", warm_work, rate, mode["latency_s"] // 2,
                               mode["people"], args.seed, args.batch_size, log)
        results["latency_warmup"] = dict(warm, rate=rate, **m.record())
        results.update(latency_and_recovery(tessera, bench, args, mode, prefix, work, args.sustained_rate, broker_pid,
                                            step, log))
        return
    if args.only == "throughput":
        throughput_only(tessera, bench, args, mode, prefix, work, workload_flags, broker_pid, results, step, log)
        return
    if args.only == "distributed":
        results.update(distributed(tessera, bench, args, mode, prefix, work, workload_flags, mode["events"],
                                   mode["people"], broker_pid, step, log))
        return
    people = mode["memory_people"][-1]
    step(f"scenario 3's drain of {mode['memory_events']:,} events over {people:,} people, store kept")
    with Measure(broker_pid) as m:
        memory = run_memory(tessera, bench, args.brokers, prefix, work, (people,), mode["memory_events"],
                            mode["memory_cache_mb"], args.partitions, args.seed, args.batch_size, log,
                            keep_largest=True)
    kept = memory.pop("kept_data_dir")
    results["memory_largest_only"] = dict(memory, **m.record())
    results.update(at_scale(tessera, bench, args, prefix, work, kept, memory, None, mode, broker_pid, step, log))
    shutil.rmtree(kept, ignore_errors=True)


def measure_b_pass(bench, args, prefix, events, broker_pid, results, step, log):
    step("B_pass: consume -> produce, no processing")
    with Measure(broker_pid) as m:
        passed = run_json([bench, "pass", "--brokers", args.brokers, "--prefix", prefix, "--events", str(events),
                           "--batch-size", str(args.batch_size)], log)
    results["b_pass"] = dict(passed["pass"], batches=passed["batches"], **m.record())


def measure_b_kv(bench, args, mode, work, profiles, mean_profile_value, broker_pid, results, step, log):
    step("B_kv: RocksDB with the pipeline's options")
    with Measure(broker_pid) as m:
        kv = run_json([bench, "kv", "--dir", os.path.join(work, "kv"), "--keys", str(max(profiles, 1000)),
                       "--ops", str(mode["kv_ops"]), "--value-bytes", str(int(mean_profile_value)),
                       "--batch-size", str(args.batch_size)], log)
    results["b_kv"] = dict(kv, **m.record())


def measure_pipeline_no_kafka(bench, args, work, workload_flags, broker_pid, results, step, log):
    step("the fused pipeline without Kafka (same events, same store options)")
    with Measure(broker_pid) as m:
        pipe = run_json([bench, "pipeline", "--dir", os.path.join(work, "pipeline"),
                         "--batch-size", str(args.batch_size)] + workload_flags, log)
    results["pipeline_no_kafka"] = dict(pipe["pipeline"], updates=pipe["updates"], merges=pipe["merges"],
                                        dead_letters=pipe["dead_letters"], output_bytes=pipe["output_bytes"],
                                        **m.record())


def summary_ratios(results):
    """The summary's ratios: the fused drain against B_pass and B_kv's Get+Put, the Kafka-less pipeline
    against the drain."""
    f = results["fused"]
    return {
        "fused_over_b_pass": f["events_per_s"] / results["b_pass"]["per_s"],
        "fused_over_b_kv_get_put": f["events_per_s"] / results["b_kv"]["get_put"]["per_s"],
        "pipeline_no_kafka_over_fused": results["pipeline_no_kafka"]["per_s"] / f["events_per_s"],
    }


def full_ratios(results):
    """Every ratio of a full run: the summary's, the distributed drain against B_pass and the disk
    against the raw events' bytes (bench/merge.py takes them again after folding a part in)."""
    return {
        **summary_ratios(results),
        "distributed_over_b_pass": (results["distributed"]["events_per_s"] / results["b_pass"]["per_s"]
                                    if results.get("distributed", {}).get("events_per_s") else None),
        "disk_over_raw_logical": results["footprint"]["disk_over_raw_logical"],
        "disk_over_raw_logical_compacted": results["footprint_compacted"]["disk_over_raw_logical"],
        "disk_over_raw_logical_after_updates_compacted":
            results["footprint_after_updates_compacted"]["disk_over_raw_logical"],
    }


def throughput_only(tessera, bench, args, mode, prefix, work, workload_flags, broker_pid, results, step, log):
    """--only throughput: the figures the summary's ratios are made of, measured together in one run:
    B_pass, scenario 1's fused drain and its sustainable rate, B_kv (over as many keys as the drain left
    profiles, values of their mean stored size) and the Kafka-less pipeline. No footprint, latency,
    recovery, distributed or memory scenario."""
    events, people = mode["events"], mode["people"]
    produce_workload(bench, args, prefix, workload_flags, events, people, broker_pid, results, step, log)
    measure_b_pass(bench, args, prefix, events, broker_pid, results, step, log)
    step("scenario 1: tessera run (fused) drains the raw topics")
    data_dir = os.path.join(work, "fused")
    results["fused"] = fused_drain(tessera, args, prefix, work, data_dir, events, broker_pid)
    store = footprint(bench, os.path.join(data_dir, "store"), results["workload"]["bytes"], log, compact=False)
    shutil.rmtree(data_dir, ignore_errors=True)
    step(f"scenario 1, sustainable: {mode['sustain_steps']} tries of {mode['sustain_s']} s")
    with Measure(broker_pid) as m:
        sustained = run_sustainable(tessera, bench, args.brokers, prefix, work, round(results["fused"]["events_per_s"]),
                                    mode["sustain_s"], mode["sustain_steps"], people, args.seed, args.batch_size, log)
    results["sustainable"] = dict(sustained, **m.record())
    measure_b_kv(bench, args, mode, work, store["profiles"], store["mean_profile_value_bytes"], broker_pid, results,
                 step, log)
    measure_pipeline_no_kafka(bench, args, work, workload_flags, broker_pid, results, step, log)
    results["ratios"] = summary_ratios(results)


def write_results(results, out_path, partial, work, log):
    """The finished results file (the partial one goes), with where the logs are."""
    results["load_avg_end"] = loadavg()
    results["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["logs"] = work
    log.close()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as out:
        json.dump(results, out, indent=1)
        out.write("\n")
    os.remove(partial)
    print(f"bench: results in {out_path} (logs in {work})", file=sys.stderr)


def build_type(bin_dir):
    """CMAKE_BUILD_TYPE of the binaries measured, from their build tree's CMakeCache.txt."""
    try:
        with open(os.path.join(bin_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "unset"
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=sorted(MODES), default="quick")
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--kafka-data-dir", required=True)
    ap.add_argument("--bin-dir", required=True, help="build dir holding app/tessera and bench/tessera-bench")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--callgrind-events", type=int, default=10_000, help="0: no profile")
    ap.add_argument("--no-distributed", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--no-recovery", action="store_true")
    ap.add_argument("--only", choices=("at-scale", "distributed", "footprint", "latency", "throughput"),
                    help="only scenarios 1 and 4 over the largest memory store (with the drain that fills it), "
                         "only the distributed pipeline's drain and sustainable rate, only the fused drain and "
                         "the footprint before and after the updates, only scenarios 2 and 4 (latency and "
                         "recovery) at shares of --sustained-rate, or only the summary's ratios (B_pass, the "
                         "fused drain and sustainable rate, B_kv, the Kafka-less pipeline)")
    ap.add_argument("--sustained-rate", type=float,
                    help="with --only footprint: the sustainable rate (events/s) whose half for an hour is the "
                         "updates; with --only latency: the rate whose shares are the loads")
    args = ap.parse_args()

    mode = MODES[args.mode]
    tessera = os.path.join(args.bin_dir, "app", "tessera")
    bench = os.path.join(args.bin_dir, "bench", "tessera-bench")
    work = tempfile.mkdtemp(prefix="tessera-bench-")
    log = open(os.path.join(work, "driver.log"), "w")
    prefix = f"bench-{int(time.time())}-{os.getpid()}."
    broker_pid = kafka_pid(args.kafka_data_dir)
    people, events = mode["people"], mode["events"]
    workload_flags = ["--people", str(people), "--events", str(events), "--seed", str(args.seed)]

    results = {
        "schema": 1,
        "mode": args.mode,
        "only": args.only,
        "invocation": " ".join(["python3", "bench/driver.py"] + [shlex.quote(a) for a in sys.argv[1:]]),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command,
        "machine": machine(),
        "settings": {"partitions": args.partitions, "batch_size": args.batch_size, "seed": args.seed,
                     "people": people, "events": events, "topic_prefix": prefix,
                     "block_cache_mb": 256, "kafka": "Apache Kafka 3.9.1 single node (deploy/kafka.sh)",
                     "build": build_type(args.bin_dir)},
        "load_avg_start": loadavg(),
    }
    git = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    results["git_commit"] = git.stdout.strip() or None
    dirty = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "status", "--porcelain",
                            "--untracked-files=no"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    results["git_dirty"] = bool(dirty.stdout.strip())

    # What is measured so far is saved before each step, so a long full run that fails late keeps its
    # earlier figures (the results file itself is only written when the run is complete).
    partial = args.out + ".partial"

    def step(name):
        os.makedirs(os.path.dirname(os.path.abspath(partial)), exist_ok=True)
        with open(partial, "w") as f:
            json.dump(dict(results, unfinished_at=name, logs=work), f, indent=1)
        print(f"bench: {time.strftime('%H:%M:%S')} {name}", file=sys.stderr, flush=True)

    if args.only:
        only(args, mode, tessera, bench, work, prefix, broker_pid, results, workload_flags, step, log)
        write_results(results, args.out, partial, work, log)
        return

    produce_workload(bench, args, prefix, workload_flags, events, people, broker_pid, results, step, log)

    measure_b_pass(bench, args, prefix, events, broker_pid, results, step, log)

    step("scenario 1: tessera run (fused) drains the raw topics")
    data_dir = os.path.join(work, "fused")
    results["fused"] = fused_drain(tessera, args, prefix, work, data_dir, events, broker_pid)

    # The drain rate above is the catch-up rate, in batches as large as they come; under a steady load
    # batches are smaller and each event costs more, so the sustainable rate is searched for.
    step(f"scenario 1, sustainable: the highest steady load tessera run keeps up with, {mode['sustain_steps']} "
         f"tries of {mode['sustain_s']} s")
    with Measure(broker_pid) as m:
        sustained = run_sustainable(tessera, bench, args.brokers, prefix, work, round(results["fused"]["events_per_s"]),
                                    mode["sustain_s"], mode["sustain_steps"], people, args.seed, args.batch_size, log)
    results["sustainable"] = dict(sustained, **m.record())
    # The latency and recovery loads are shares of it (the "that maximum"); if no try was
    # steady, of the lowest rate tried.
    max_rate = sustained["events_per_s"] or sustained["unsteady_at"]

    results.update(latency_and_recovery(tessera, bench, args, mode, prefix, work, max_rate, broker_pid, step, log))

    if not args.no_distributed:
        results.update(distributed(tessera, bench, args, mode, prefix, work, workload_flags, events, people,
                                   broker_pid, step, log))

    profiles, mean_profile_value = footprint_and_updates(tessera, bench, args, mode, prefix, data_dir, results, events,
                                                         people, max_rate, broker_pid, step, log, work)

    sizes = mode["memory_people"]
    step(f"scenario 3: memory, fused drains of {mode['memory_events']:,} events over {' and '.join(f'{p:,}' for p in sizes)} "
         f"people (uniform activity) with a {mode['memory_cache_mb']} MiB block cache")
    with Measure(broker_pid) as m:
        memory = run_memory(tessera, bench, args.brokers, prefix, work, sizes, mode["memory_events"],
                            mode["memory_cache_mb"], args.partitions, args.seed, args.batch_size, log,
                            keep_largest=not args.no_recovery)
    kept = memory.pop("kept_data_dir")
    results["memory"] = dict(memory, **m.record())
    if kept:
        results.update(at_scale(tessera, bench, args, prefix, work, kept, memory, round(max_rate), mode, broker_pid,
                                step, log))
        shutil.rmtree(kept, ignore_errors=True)

    measure_b_kv(bench, args, mode, work, profiles, mean_profile_value, broker_pid, results, step, log)

    step("B_parse: simdjson and ingest's EventParser over the workload")
    with Measure(broker_pid) as m:
        parse = run_json([bench, "parse"] + workload_flags, log)
    parse.pop("workload", None)
    results["b_parse"] = dict(parse, **m.record())

    measure_pipeline_no_kafka(bench, args, work, workload_flags, broker_pid, results, step, log)

    if args.callgrind_events > 0 and shutil.which("valgrind") and shutil.which("callgrind_annotate"):
        step(f"where the time goes: callgrind over the Kafka-less pipeline, {args.callgrind_events} events")
        results["profile"] = callgrind_profile(bench, work, args.callgrind_events, log)

    results["ratios"] = full_ratios(results)
    write_results(results, args.out, partial, work, log)


if __name__ == "__main__":
    main()
