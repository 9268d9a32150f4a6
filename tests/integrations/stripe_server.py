"""A local stand-in for Stripe's API: a real HTTP server the real `stripe` library talks to.

It parses Stripe's form encoding, records every request (method, path, params, idempotency key),
honours idempotency keys the way Stripe does (same key -> the first answer again, marked
`Idempotent-Replayed`), and answers with Stripe-shaped JSON for the endpoints billing uses.
`fail_next(path, status)` makes the next request to `path` fail once (an outage).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's `a[b][0][c]=v` form keys back into nested dicts (lists as dicts keyed by index)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        last = parts[-1]
        if last == "":  # a[]=v
            node.setdefault("", []).append(value)
        else:
            node[last] = value
    return out


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    replayed: bool


@dataclass
class StripeStandIn:
    requests: list[Recorded] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    _answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, path: str, status: int = 500) -> None:
        self._failures.setdefault(path, []).append(status)

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def answer(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        with self._lock:
            if key and key in self._answers:
                status, body = self._answers[key]
                self.requests.append(Recorded(method, path, params, key, True))
                return status, body, True
            self.requests.append(Recorded(method, path, params, key, False))
            if self._failures.get(path):
                status = self._failures[path].pop(0)
                return status, {"error": {"type": "api_error", "message": "stand-in outage"}}, False
            status, body = self._route(method, path, params)
            if key and method == "POST" and status < 500:
                self._answers[key] = (status, body)
            return status, body, False

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _route(self, method: str, path: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = int(time.time())
        match method, path:
            case "GET", "/v1/prices":
                wanted = set(
                    (p.get("lookup_keys") or {}).get("", []) or (p.get("lookup_keys") or {}).values()
                )
                data = [x for x in self.prices if x.get("lookup_key") in wanted]
                return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}
            case "POST", "/v1/products":
                return 200, {
                    "id": self._id("prod"),
                    "object": "product",
                    "name": p.get("name"),
                    "created": now,
                }
            case "POST", "/v1/prices":
                price = {
                    "id": self._id("price"),
                    "object": "price",
                    "product": p.get("product"),
                    "lookup_key": p.get("lookup_key"),
                    "currency": p.get("currency"),
                    "unit_amount": int(p["unit_amount"]) if "unit_amount" in p else None,
                    "unit_amount_decimal": p.get("unit_amount_decimal"),
                    "recurring": p.get("recurring"),
                    "created": now,
                }
                self.prices.append(price)
                return 200, price
            case "POST", "/v1/billing/meters":
                return 200, {
                    "id": self._id("mtr"),
                    "object": "billing.meter",
                    "event_name": p.get("event_name"),
                }
            case "POST", "/v1/checkout/sessions":
                cs = self._id("cs_test")
                return 200, {
                    "id": cs,
                    "object": "checkout.session",
                    "mode": p.get("mode"),
                    "url": f"https://checkout.stripe.test/c/pay/{cs}",
                    "metadata": p.get("metadata") or {},
                    "client_reference_id": p.get("client_reference_id"),
                    "status": "open",
                    "payment_status": "unpaid",
                    "created": now,
                }
            case "POST", "/v1/billing/meter_events":
                return 200, {
                    "object": "billing.meter_event",
                    "event_name": p.get("event_name"),
                    "identifier": p.get("identifier"),
                    "payload": p.get("payload"),
                    "timestamp": int(p.get("timestamp", now)),
                    "created": now,
                    "livemode": False,
                }
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path})",
            }
        }


def serve(state: StripeStandIn) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n).decode() if n else ""
            pairs = parse_qsl(url.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
            status, answer, replayed = state.answer(
                method, url.path, unflatten(pairs), self.headers.get("idempotency-key")
            )
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("request-id", f"req_{id(answer):x}")
            if replayed:
                self.send_header("idempotent-replayed", "true")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)
