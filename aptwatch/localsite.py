"""Serve a folder of files on 127.0.0.1 for the offline demo and the test suite.

Files may contain the token ``__BASE_URL__``; it is replaced by the server's own address at serve
time, so feeds can point at articles on whatever port the OS handed out.
"""

from __future__ import annotations

import gzip
import mimetypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

BASE_URL_TOKEN = b"__BASE_URL__"
_TEXT_TYPES = (".html", ".htm", ".xml", ".rss", ".atom", ".txt", ".json")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Callable[[BaseHTTPRequestHandler], Response]


@dataclass
class LocalSite:
    """A running local site: its base URL, extra routes tests may add, and a request log."""

    root: Path | None
    base_url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def count(self, path: str) -> int:
        return sum(1 for p in self.requests if p == path)

    def resolve(self, handler: BaseHTTPRequestHandler) -> Response:
        path = urlsplit(handler.path).path
        route = self.routes.get(path)
        if route is not None:
            return route(handler)
        if self.root is None:
            return Response(404, b"not found")
        target = (self.root / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if self.root.resolve() not in target.parents or not target.is_file():
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        body = target.read_bytes()
        name = target.name
        if name.endswith(".gz") and not name.endswith((".xml.gz",)):
            body = gzip.decompress(body)
            name = name[: -len(".gz")]
        if name.endswith(_TEXT_TYPES):
            body = body.replace(BASE_URL_TOKEN, self.base_url.encode())
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith((".rss", ".atom")):
            ctype = "application/xml"
        if ctype.startswith("text/") or ctype.endswith("xml"):
            ctype += "; charset=utf-8"
        return Response(200, body, {"Content-Type": ctype})


def _handler_for(site: LocalSite, keep_alive: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "aptwatch-localsite/1"
        # HTTP/1.0 closes the connection after each response; 1.1 keeps it, as real sites do
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_GET(self) -> None:
            site.requests.append(urlsplit(self.path).path)
            response = site.resolve(self)
            if response.delay:
                threading.Event().wait(response.delay)
            try:
                self.send_response(response.status)
                headers = {"Content-Length": str(len(response.body)), **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            return  # keep test and demo output clean

    return Handler


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the SYNs of a crawler opening 16 connections at
    # once, and the kernel retries them only after a second
    request_queue_size = 128


@contextmanager
def serve(root: Path | None = None, *, keep_alive: bool = False) -> Iterator[LocalSite]:
    """Serve ``root`` on 127.0.0.1 on a free port for the duration of the block.

    ``keep_alive``: persistent connections, for benchmarks; tests keep one connection per request,
    so a route may send a body that disagrees with its Content-Length.
    """
    site = LocalSite(root=root)
    server = _Server(("127.0.0.1", 0), _handler_for(site, keep_alive))
    server.daemon_threads = True
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="aptwatch-localsite", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
