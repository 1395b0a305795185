#!/usr/bin/env python3
"""`tessera export` output loads unmodified into DuckDB and pandas (issue 6).

Runs `tessera run --embedded` on deploy/samples, exports every profile as NDJSON and CSV, and
loads both files with DuckDB (read_json_auto / read_csv_auto) and pandas (read_json lines /
read_csv), then runs the analyst's first query of docs/query-api.md on each.

usage: export_loads_test.py TESSERA_BIN SOURCE_DIR   (run with a Python that has duckdb and pandas)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import duckdb
import pandas


def main() -> int:
    tessera, source = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="tessera-export-loads-")
    run = subprocess.Popen([tessera, "run", "--embedded", "--data-dir", work],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "run.log"), "w"))
    try:
        brokers_file = os.path.join(work, "brokers")
        for _ in range(150):
            if os.path.exists(brokers_file) and open(brokers_file).read().strip():
                break
            time.sleep(0.1)
        brokers = open(brokers_file).read().strip()
        for channel in ("web", "social", "purchase"):
            subprocess.run([tessera, "import", "--channel", channel, "--brokers", brokers,
                            os.path.join(source, "deploy", "samples", channel + ".ndjson")],
                           check=True, stderr=subprocess.DEVNULL)
        ndjson = os.path.join(work, "profiles.ndjson")
        csv = os.path.join(work, "profiles.csv")
        # Wait until Somchai's profile is complete (deploy/samples/README.md: 2 orders, THB 650.00,
        # and his 4 web events, which a loaded machine may consume after the other topics) and the
        # pipeline has settled (two exports in a row alike), so the CSV export below sees the same
        # profiles as this one.
        deadline = time.time() + 60
        previous = None
        while True:
            subprocess.run([tessera, "export", "--all", "--format", "ndjson", "--out", ndjson, "--data-dir", work],
                           check=True, stderr=subprocess.DEVNULL)
            text = open(ndjson, encoding="utf-8").read()
            profiles = [json.loads(line) for line in text.splitlines() if line]
            complete = any(p["total_spend"].get("THB") == "650.00" and p["event_counts"].get("web") == 4
                           for p in profiles)
            if (complete and text == previous) or time.time() > deadline:
                break
            previous = text
            time.sleep(0.3)
        subprocess.run([tessera, "export", "--all", "--format", "csv", "--out", csv, "--data-dir", work],
                       check=True, stderr=subprocess.DEVNULL)
        expected = len(profiles)
        assert expected >= 4, f"only {expected} profiles exported"
        somchai = next(p for p in profiles if "phone:+66812345678" in p["identifiers"])

        # DuckDB, the analyst's first query (docs/query-api.md).
        con = duckdb.connect()
        rows = con.execute(f"SELECT count(*) FROM read_json_auto('{ndjson}')").fetchone()[0]
        assert rows == expected, (rows, expected)
        top = con.execute(
            f"""SELECT id, CAST(total_spend->>'THB' AS DECIMAL(18,2)) AS thb
                FROM read_json_auto('{ndjson}', format='newline_delimited')
                ORDER BY thb DESC NULLS LAST LIMIT 1""").fetchone()
        assert top[0] == somchai["id"] and str(top[1]) == "650.00", top
        csv_rows = con.execute(
            f"SELECT id, email, phone, spend_THB, orders_count FROM read_csv_auto('{csv}', header=true) "
            "ORDER BY spend_THB DESC LIMIT 1").fetchall()
        assert len(csv_rows) == 1 and str(csv_rows[0][0]) == somchai["id"], csv_rows
        assert csv_rows[0][2] == "+66812345678" and float(csv_rows[0][3]) == 650.0, csv_rows
        assert con.execute(f"SELECT count(*) FROM read_csv_auto('{csv}', header=true)").fetchone()[0] == expected

        # pandas.
        frame = pandas.read_json(ndjson, lines=True, dtype={"id": str})
        assert len(frame) == expected and somchai["id"] in set(frame["id"]), frame
        # ids are 64-bit and phones start with "+": read them as text, as docs/query-api.md shows.
        table = pandas.read_csv(csv, dtype={"id": str, "phone": str})
        assert len(table) == expected, len(table)
        row = table[table["id"] == somchai["id"]].iloc[0]
        assert row["spend_THB"] == 650.0 and row["phone"] == "+66812345678", row
        assert int(row["events_purchase"]) == 2 and int(row["events_web"]) == 4, row
        print(f"ok: {expected} profiles load into DuckDB {duckdb.__version__} and pandas {pandas.__version__}")
        return 0
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
