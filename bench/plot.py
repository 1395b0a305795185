#!/usr/bin/env python3
"""Plots of a results file (bench/results/*.json) as PNG: the fused run's CPU use and RSS over time,
the rates of the same run side by side, and scenario 2's latency distributions (tessera run and
B_pass at each offered load).

  bench/.venv/bin/python bench/plot.py bench/results/quick.json docs/benchmarks

matplotlib from PyPI (bench/requirements.txt) in bench/.venv, which bench/run creates on first use.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    results = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    mode = results["mode"]

    samples = [s for s in results["fused"]["samples"] if s["rss_bytes"] > 0]
    if len(samples) >= 2:
        t = [s["t"] for s in samples[1:]]
        cpu = [(b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]) for a, b in zip(samples, samples[1:])]
        rss = [s["rss_bytes"] / 2**20 for s in samples[1:]]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.plot(t, cpu, color="tab:blue", label="CPU (cores)")
        ax.set_xlabel("seconds since start of tessera run")
        ax.set_ylabel("CPU cores used")
        ax2 = ax.twinx()
        ax2.plot(t, rss, color="tab:red", label="RSS (MiB)")
        ax2.set_ylabel("RSS MiB")
        ax.set_title(f"tessera run draining {results['fused']['events']:,} events ({mode})")
        fig.legend(loc="upper left", bbox_to_anchor=(0.08, 0.88), fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"fused-over-time-{mode}.png"), dpi=110)
        plt.close(fig)

    rates = [
        ("B_pass\nconsume→produce", results["b_pass"]["per_s"]),
        ("fused\ntessera run", results["fused"]["events_per_s"]),
        ("distributed\n4 processes", (results.get("distributed") or {}).get("events_per_s") or 0),
        ("pipeline\nno Kafka", results["pipeline_no_kafka"]["per_s"]),
        ("B_kv\nGet+Put", results["b_kv"]["get_put"]["per_s"]),
        ("B_kv batched\nupdate", results["b_kv"]["batched_update"]["per_s"]),
        ("ingest\nEventParser", results["b_parse"]["event_parser"]["per_s"]),
    ]
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.bar([r[0] for r in rates], [r[1] / 1000 for r in rates],
           color=["grey", "tab:blue", "tab:blue", "tab:cyan", "grey", "grey", "grey"])
    ax.set_ylabel("thousand per second")
    ax.set_title(f"same run, same machine ({mode}); grey = baselines")
    for i, (_, v) in enumerate(rates):
        ax.text(i, v / 1000, f"{v / 1000:.1f}k", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"rates-{mode}.png"), dpi=110)
    plt.close(fig)

    latency = [x for x in results.get("latency") or [] if x["tessera"].get("cdf_ms") and x["b_pass"].get("cdf_ms")]
    if latency:
        # cdf_ms holds every half percentile (201 points): latency on a log axis against the share
        # of probes at or below it.
        fig, ax = plt.subplots(figsize=(7, 3.6))
        colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
        for x, color in zip(latency, colors):
            for key, style, name in (("tessera", "-", "tessera run"), ("b_pass", ":", "B_pass")):
                cdf = x[key]["cdf_ms"]
                share = [i / (len(cdf) - 1) for i in range(len(cdf))]
                ax.plot([max(v, 0.01) for v in cdf], share, style, color=color,
                        label=f"{name}, {int(x['load'] * 100)}% load ({x['rate']:,}/s)")
        ax.set_xscale("log")
        ax.set_xlabel("raw event produced → its profile update consumable (ms, log scale)")
        ax.set_ylabel("share of probes")
        ax.set_ylim(0, 1.0)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"scenario 2: latency distribution ({mode})")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"latency-cdf-{mode}.png"), dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
