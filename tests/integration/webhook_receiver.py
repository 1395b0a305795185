#!/usr/bin/env python3
"""A webhook receiver for Tessera's sink tests that fails on purpose (Python 3 standard library only).

It verifies every request's signature (HMAC-SHA256 of "<X-Tessera-Timestamp>.<body>" under the
shared secret), and records every item it received with whether the sender saw a success for it:

  GET /state -> {"receipts": [{"key", "profile_id", "version", "type", "acked"}...],
                 "requests": n, "bad_signatures": n, "injected": {"500": n, "429": n, "timeout": n, "outage": n}}
  GET /health -> 200

Failure injection (deterministic with --seed):
  --p500 P       answer 500 (nothing recorded) with probability P
  --p429 P       answer 429 with Retry-After: --retry-after seconds (nothing recorded)
  --ptimeout P   record the items, then sleep --timeout-s before answering (the sender has given up;
                 the receipts are marked acked=false)
  --outage-after N --outage-s S   after N successful requests, drop every connection without an
                 answer for S seconds (a dead endpoint), then recover
  --mode hang    never answer anything (a destination that is dead and slow)
  --record-items keep each item whole in its receipt ("item"), to check what exactly arrived
Usage: webhook_receiver.py --port-file F --secret S [options]; it binds 127.0.0.1 on a free port and
writes the port to F.
"""
import argparse
import hashlib
import hmac
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--p500", type=float, default=0.0)
    ap.add_argument("--p429", type=float, default=0.0)
    ap.add_argument("--retry-after", type=int, default=1)
    ap.add_argument("--ptimeout", type=float, default=0.0)
    ap.add_argument("--timeout-s", type=float, default=2.0)
    ap.add_argument("--outage-after", type=int, default=-1)
    ap.add_argument("--outage-s", type=float, default=0.0)
    ap.add_argument("--mode", choices=["normal", "hang"], default="normal")
    ap.add_argument("--record-items", action="store_true")
    args = ap.parse_args()

    lock = threading.Lock()
    rng = random.Random(args.seed)
    state = {"receipts": [], "requests": 0, "bad_signatures": 0,
             "injected": {"500": 0, "429": 0, "timeout": 0, "outage": 0}}
    outage = {"ok_requests": 0, "until": None, "done": False}
    secret = args.secret.encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                return self.reply(200, b"ok")
            if self.path == "/state":
                with lock:
                    body = json.dumps(state).encode()
                return self.reply(200, body, [("Content-Type", "application/json")])
            self.reply(404)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if args.mode == "hang":
                time.sleep(3600)
                return
            with lock:
                state["requests"] += 1
                now = time.monotonic()
                if outage["until"] is not None and now >= outage["until"]:
                    outage["until"] = None
                    outage["done"] = True
                in_outage = outage["until"] is not None
                if not in_outage and not outage["done"] and args.outage_after >= 0 \
                        and outage["ok_requests"] >= args.outage_after:
                    outage["until"] = now + args.outage_s
                    in_outage = args.outage_s > 0
                if in_outage:
                    state["injected"]["outage"] += 1
                draw = rng.random()
            if in_outage:
                self.close_connection = True
                self.connection.close()  # no answer at all: a connection error for the sender
                return
            ts = self.headers.get("X-Tessera-Timestamp", "")
            sig = self.headers.get("X-Tessera-Signature", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(sig, want) or abs(time.time() - int(ts or 0)) > 300:
                with lock:
                    state["bad_signatures"] += 1
                return self.reply(401, b"bad signature")
            if draw < args.p500:
                with lock:
                    state["injected"]["500"] += 1
                return self.reply(500, b"injected failure")
            draw -= args.p500
            if draw < args.p429:
                with lock:
                    state["injected"]["429"] += 1
                return self.reply(429, b"slow down", [("Retry-After", str(args.retry_after))])
            draw -= args.p429
            timeout = draw < args.ptimeout
            items = json.loads(body)["items"]
            with lock:
                for item in items:
                    receipt = {"key": item["idempotency_key"], "profile_id": item["profile_id"],
                               "version": item.get("version"), "type": item["type"], "acked": not timeout}
                    if args.record_items:
                        receipt["item"] = item
                    state["receipts"].append(receipt)
                if timeout:
                    state["injected"]["timeout"] += 1
                else:
                    outage["ok_requests"] += 1
            if timeout:
                time.sleep(args.timeout_s)
            self.reply(200, b"{}", [("Content-Type", "application/json")])

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
