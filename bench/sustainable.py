#!/usr/bin/env python3
"""Scenario 1's sustainable-rate search on its own (bench/driver.py's run_sustainable), for
re-measuring one change without the full run's two hours. Needs a running broker and built
binaries; prints the search's JSON (tries, rate found, the broker's CPU seconds over it).

  bench/sustainable.py --bin-dir build-bench --brokers 127.0.0.1:19392 --ceiling 7739
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True, help="build dir holding app/tessera and bench/tessera-bench")
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--kafka-data-dir", help="the broker's data dir (deploy/kafka.sh), to read its CPU time")
    ap.add_argument("--ceiling", type=int, required=True, help="upper bound of the bisection (the full run: its drain rate)")
    ap.add_argument("--seconds", type=int, default=300, help="each try's length (the full run: 300)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--people", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch-size", type=int, default=5000)
    args = ap.parse_args()
    tessera = os.path.join(args.bin_dir, "app", "tessera")
    bench = os.path.join(args.bin_dir, "bench", "tessera-bench")
    work = tempfile.mkdtemp(prefix="tessera-sustainable-")
    broker_pid = driver.kafka_pid(args.kafka_data_dir) if args.kafka_data_dir else None
    cpu0 = driver.proc_cpu_seconds(broker_pid) if broker_pid else None
    start = time.time()
    with open(os.path.join(work, "driver.log"), "w") as log:
        result = driver.run_sustainable(tessera, bench, args.brokers, f"bench-sus-{int(start)}.", work, args.ceiling,
                                        args.seconds, args.steps, args.people, args.seed, args.batch_size, log)
    cpu1 = driver.proc_cpu_seconds(broker_pid) if broker_pid else None
    if cpu0 and cpu1:
        result["broker_cpu_s"] = round(cpu1[0] - cpu0[0], 2)
    result["wall_s"] = round(time.time() - start, 1)
    result["logs"] = work
    print(json.dumps(result))


if __name__ == "__main__":
    main()
