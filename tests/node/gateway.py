"""A fake webhook gateway for the real node: the provider the pods deliver to in tests/node.

It speaks the webhook driver's real protocol (a signed JSON POST per Standard Webhooks, verified
with the ``standardwebhooks`` reference package, as tests/providers/test_webhook.py's gateway
does) and records every verified POST in a JSON-lines ledger: the notification id, the attempt,
the idempotency key, the path (one per channel) and the sender's address, which is the pod's IP
because the gateway runs inside the node's network namespace (``nsenter -n``) on the bridge, so
no NAT or bridge sits between a pod and it. A path can answer after a delay (a slow provider),
so that a backlog builds and KEDA has something to scale on.

    python -m tests.node.gateway --listen 10.244.0.1:18100 --ledger FILE --secret whsec_… \\
        [--delay /hooks/sms=1.0 …]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def serve(listen: str, ledger: Path, secret: str, delays: dict[str, float]) -> None:
    host, port = listen.rsplit(":", 1)
    lock = threading.Lock()
    out = ledger.open("a", buffering=1, encoding="utf-8")
    count = 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the driver's pooled client expects

        def do_POST(self) -> None:
            nonlocal count
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload: dict[str, Any] = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                self.answer(401, {"error": "invalid signature"})
                return
            data = payload["data"]
            delay = delays.get(self.path, 0.0)
            if delay:
                time.sleep(delay)  # pace: the provider's own latency, per request
            with lock:
                count += 1
                gw_id = f"gw_{count}"
                record = {
                    "id": gw_id,
                    "path": self.path,
                    "notificationId": data["notificationId"],
                    "attempt": data["attempt"],
                    "idempotencyKey": headers.get("webhook-id"),
                    "peer": self.client_address[0],
                    "at": time.time(),
                }
                out.write(json.dumps(record) + "\n")
            self.answer(200, {"id": gw_id, "status": "accepted"})

        def answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"listening on {listen}", flush=True)
    server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.node.gateway")
    ap.add_argument("--listen", required=True, help="host:port")
    ap.add_argument("--ledger", required=True, type=Path)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--delay", action="append", default=[], help="PATH=SECONDS")
    args = ap.parse_args()
    delays = {p: float(s) for p, s in (d.split("=", 1) for d in args.delay)}
    serve(args.listen, args.ledger, args.secret, delays)


if __name__ == "__main__":
    main()
