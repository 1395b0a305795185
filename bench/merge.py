#!/usr/bin/env python3
"""Folds one part of the full run, measured apart (`bench/driver.py --mode full --only PART`), into a
full run's results file, so that bench/report.py renders the page from both.

    bench/merge.py bench/results/full.json PART.json [--note TEXT]
    python3 bench/report.py bench/results/full.json docs/benchmarks.md

The part's figures replace the full run's, the ratios are taken again from what the file then holds,
and each replaced section says where it came from (the date, the commit, the driver's command line,
and --note: what a reader needs to compare it with the rest, such as what changed since), which the
page prints beside it. A full bench/run takes close to two hours; a part ten minutes to half an
hour, so the page can follow the code between full runs without hiding which figures ran together.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402  (full_ratios: the same ratios a full run writes)

# What each part measures: the sections it replaces, and the one that carries its note.
PARTS = {
    "throughput": (("workload", "produce", "b_pass", "fused", "sustainable", "b_kv", "pipeline_no_kafka"), ("fused",)),
    "footprint": (("footprint", "footprint_compacted", "updates", "footprint_after_updates",
                   "footprint_after_updates_compacted"), ("footprint",)),
    "distributed": (("distributed", "distributed_sustainable"), ("distributed_sustainable",)),
    "at-scale": (("memory_largest_only", "sustainable_at_scale", "recovery_at_scale"),
                 ("memory_largest_only", "sustainable_at_scale", "recovery_at_scale")),
    # A list has no place for the note: it goes beside it, with the rate the loads are shares of.
    "latency": (("latency", "recovery"), ()),
}


def provenance(part, note):
    """Where a part's figures come from, in the words the page prints."""
    where = (f"on {part['started_at'][:10]} with tessera at {part.get('git_commit')}"
             f"{' plus uncommitted changes' if part.get('git_dirty') else ''} "
             f"({part['settings'].get('build', 'unknown')} build), `{part.get('invocation', 'bench/driver.py --only ' + part['only'])}`; "
             f"load average {part['load_avg_start'][0]:.2f} at the start, {part['load_avg_end'][0]:.2f} at the end")
    return f"{where}. {note}" if note else f"{where}."


def merge(full, part, note):
    name = part.get("only")
    if name not in PARTS:
        raise SystemExit(f"merge: {name!r} is not a part bench/driver.py --only measures ({', '.join(PARTS)})")
    if full.get("only") or full.get("mode") != "full" or part.get("mode") != "full":
        raise SystemExit("merge: the first file must be a full run's results and the second a part of the full mode")
    sections, carriers = PARTS[name]
    missing = [key for key in sections if key not in part]
    if missing:
        raise SystemExit(f"merge: the part has no {', '.join(missing)}: did it finish?")
    text = provenance(part, note)
    if name == "throughput" and "sustainable_of_full_run" not in full and "latency_measured_separately" not in full:
        # Scenarios 2 and 4 stay at shares of the older sustainable rate: the page says which.
        full["sustainable_of_full_run"] = {"git_commit": full["git_commit"],
                                           "events_per_s": full["sustainable"]["events_per_s"],
                                           "fused_cpu_s_per_million": full["fused"]["cpu_s_per_million"],
                                           "b_pass_per_s": full["b_pass"]["per_s"]}
    for key in sections:
        full[key] = part[key]
    if name == "latency":
        full["latency_measured_separately"] = {"note": text, "events_per_s": part["sustained_rate"]}
        full.pop("sustainable_of_full_run", None)
    for key in carriers:
        full[key]["measured_separately"] = text
    full["ratios"] = driver.full_ratios(full)
    return full


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("full", help="the full run's results file, rewritten in place")
    ap.add_argument("part", help="the results file of bench/driver.py --mode full --only PART")
    ap.add_argument("--note", default="", help="what the page should say beside the part's figures")
    args = ap.parse_args()
    with open(args.full) as f:
        full = json.load(f)
    with open(args.part) as f:
        part = json.load(f)
    merged = merge(full, part, args.note)
    with open(args.full, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    print(f"merge: {part['only']} of {part.get('git_commit')} folded into {args.full}", file=sys.stderr)


if __name__ == "__main__":
    main()
