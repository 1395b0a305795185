#!/usr/bin/env python3
"""Writes the mega-profile of docs/identity.md ("Splitting", Measured): N customers, each an
identify, two page views and two orders, every order carrying the shop's own loyalty card, as
web.ndjson and purchase.ndjson in OUT_DIR, plus rules.yaml (caps and the email limit off, so the
card glues all of them into one profile).

  tests/integration/split_mega_profile.py OUT_DIR [N]     # N defaults to 2000
  tessera run --embedded --data-dir DIR --config OUT_DIR/rules.yaml &
  tessera import --channel web --brokers "$(cat DIR/brokers)" OUT_DIR/web.ndjson   # and purchase
  # stop the run, then:
  /usr/bin/time tessera profile split --identifier loyalty_id:SHOP-CARD --data-dir DIR \\
      --config OUT_DIR/rules.yaml --no-publish
"""
import datetime
import json
import os
import sys


def main():
    out_dir = sys.argv[1]
    customers = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    os.makedirs(out_dir, exist_ok=True)
    start = datetime.datetime(2026, 9, 9, 23, 6, 40, tzinfo=datetime.timezone.utc)

    def stamp(seconds):
        return (start + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    with open(os.path.join(out_dir, "web.ndjson"), "w") as web, \
         open(os.path.join(out_dir, "purchase.ndjson"), "w") as purchase:
        for i in range(customers):
            t = i * 60
            web.write(json.dumps({"type": "identify", "messageId": f"id-{i}", "anonymousId": f"anon-{i}",
                                  "traits": {"email": f"c{i}@x.com", "name": f"C {i}"}, "timestamp": stamp(t)}) + "\n")
            for k in range(2):
                web.write(json.dumps({"type": "track", "messageId": f"t-{i}-{k}", "anonymousId": f"anon-{i}",
                                      "event": "Product Viewed", "timestamp": stamp(t + 10 + k)}) + "\n")
            for k in range(2):
                purchase.write(json.dumps({"order_id": f"O-{i}-{k}", "timestamp": stamp(t + 30 + k), "currency": "THB",
                                           "customer": {"email": f"c{i}@x.com", "loyalty_id": "SHOP-CARD"},
                                           "total": 100 + k, "status": "completed"}) + "\n")
    with open(os.path.join(out_dir, "rules.yaml"), "w") as rules:
        rules.write("identity:\n  value_limits: {email: unlimited}\n"
                    "  max_identifiers_per_profile: 0\n  max_merges_per_profile: 0\n")


if __name__ == "__main__":
    main()
