"""A local HTTP server speaking the BlueZoo format of cloud/bluezoo/format.py.

`pages` is the whole data set cut into pages; page i is served for cursor `c{i}` (page 0 without a
cursor); `script` is a queue of (page index, status, headers) answers served instead of the page
the first time that page is asked for (a 429 with Retry-After, a 503 ...).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class BlueZooStandIn:
    pages: list[list[dict[str, Any]]]
    api_key: str = "bz-key"
    script: list[tuple[int, int, dict[str, str]]] = field(default_factory=list)
    log: list[tuple[str | None, int]] = field(default_factory=list)  # (cursor asked, status answered)

    def answer(
        self, path: str, query: dict[str, list[str]], auth: str | None
    ) -> tuple[int, dict[str, str], Any]:
        if path != "/v1/sightings":
            return 404, {}, {"error": "not found"}
        if auth != f"Bearer {self.api_key}":
            return 401, {}, {"error": "unauthorized"}
        cursor = query.get("cursor", [None])[0]
        index = 0 if cursor is None else int(cursor.removeprefix("c"))
        for i, (page, status, headers) in enumerate(self.script):
            if page == index:
                del self.script[i]
                self.log.append((cursor, status))
                return status, headers, {"error": "rate limited" if status == 429 else "unavailable"}
        self.log.append((cursor, 200))
        if index >= len(self.pages):  # past the end: nothing new yet
            return 200, {}, {"data": [], "next_cursor": cursor, "has_more": False}
        more = index + 1 < len(self.pages)
        return 200, {}, {"data": self.pages[index], "next_cursor": f"c{index + 1}", "has_more": more}


def start(state: BlueZooStandIn) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            status, headers, body = state.answer(
                url.path, parse_qs(url.query), self.headers.get("authorization")
            )
            raw = json.dumps(body).encode()
            self.send_response(status)
            for k, v in {"content-type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="bluezoo-standin", daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"
