"""A stand-in HTTP endpoint for tests: it answers each POST's JSON body with the status and JSON a function
gives."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def json_server(answer: Callable[[dict], tuple[int, dict]]) -> Iterator[str]:
    """Serves on a free localhost port; each POST's body, with its "path" added, goes to answer(), which returns
    (status, JSON body). Yields the server's URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            status, reply = answer({"path": self.path, **json.loads(self.rfile.read(length) or b"{}")})
            body = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
