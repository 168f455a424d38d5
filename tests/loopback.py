"""What the loopback stand-ins share: an HTTP server on 127.0.0.1, served from a thread
while in a `with` block, that hands each request to `receive` and answers its JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import SplitResult, urlsplit


class Loopback:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))

    def receive(
        self, method: str, url: SplitResult, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        """(status, JSON answer) for one request; `headers` by lowercase name."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(server: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            length = int(self.headers.get("Content-Length") or 0)
            status, answer = server.receive(
                self.command,
                urlsplit(self.path),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read what the stand-in recorded."""

    return Handler
