"""A stand-in for miot-spec.org on a free loopback port, written for the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from .http_standin import QuietHandler, serving


class SpecServer:
    """Serves ``instances`` and ``specs`` ({urn: document}); ``mode`` breaks it on purpose:
    "ok", "404", "500", "garbage" or "hang" (holds the request until the server stops)."""

    def __init__(self, instances: list[dict[str, Any]], specs: dict[str, Any]) -> None:
        self.instances, self.specs = instances, specs
        self.mode = "ok"
        self.requests: list[str] = []
        self.release = threading.Event()

    @contextmanager
    def running(self) -> Iterator[str]:
        with serving(self._handler(), self.release) as base:
            yield base

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if owner.mode == "hang":
                    owner.release.wait(30)
                    return
                if owner.mode in ("404", "500"):
                    self._send(int(owner.mode), b"nope")
                elif owner.mode == "garbage":
                    self._send(200, b"\x00<html>not json")
                elif url.path == "/miot-spec-v2/instances":
                    self._send(200, json.dumps({"instances": owner.instances}).encode())
                elif url.path == "/miot-spec-v2/instance" and query.get("type", [""])[0] in \
                        owner.specs:
                    self._send(200, json.dumps(owner.specs[query["type"][0]]).encode())
                else:
                    self._send(404, b"{}")

            def _send(self, status: int, body: bytes) -> None:
                self.send_body(status, body)

        return Handler
