"""Real local receivers for alert tests: an HTTP webhook endpoint and an SMTP server.

Both are context managers bound to a free port on 127.0.0.1; Apprise reaches them through the
``json://`` and ``mailto://`` URLs they hand out.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class WebhookPost:
    path: str
    status: int  # what the receiver answered
    payload: dict[str, Any]


@dataclass
class WebhookReceiver:
    """Records every JSON POST, whatever its path, and answers each with ``status``."""

    port: int = 0
    status: int = 200
    posts: list[WebhookPost] = field(default_factory=list)
    delay: float = 0.0  # seconds between reading a POST and answering it

    def apprise_url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def url(self) -> str:
        return self.apprise_url()

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """What was delivered: payloads of the POSTs answered with a success status."""
        return [post.payload for post in self.posts if 200 <= post.status < 300]

    def received(self, path: str) -> list[dict[str, Any]]:
        """Payloads POSTed to ``/path``, including those answered with a failure status."""
        return [post.payload for post in self.posts if post.path == f"/{path}"]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.status
            receiver.posts.append(WebhookPost(self.path, status, json.loads(body)))
            threading.Event().wait(receiver.delay)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    # A short poll interval so shutdown() does not wait the default half second per receiver.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpReceiver:
    port: int = 0
    login: tuple[str, str] | None = None  # (user, password) the server checks, if any
    mails: list[ReceivedMail] = field(default_factory=list)

    def apprise_url(self, password: str | None = None) -> str:
        """A ``mailto://`` URL; with a login, a given ``password`` replaces the right one."""
        # mailto:// (not mailtos://) is plain SMTP; Apprise logs in only when user and password
        # are given.
        credentials = ""
        if self.login is not None:
            user, right_password = self.login
            credentials = f"{user}:{right_password if password is None else password}@"
        return (
            f"mailto://{credentials}127.0.0.1:{self.port}"
            "?from=aptwatch@example.org&to=soc@example.org&mode=insecure"
        )

    @property
    def url(self) -> str:
        return self.apprise_url()


class _BoundPortController(Controller):
    """aiosmtpd probes the configured port once started; with port 0, probe the bound one."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_receiver(login: tuple[str, str] | None = None) -> Iterator[SmtpReceiver]:
    """An SMTP server; given a ``login``, it offers AUTH and answers a wrong one with 535."""
    receiver = SmtpReceiver(login=login)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            receiver.mails.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message)
            )
            return "250 Message accepted for delivery"

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        given = None
        if isinstance(auth_data, LoginPassword):
            given = (auth_data.login.decode(), auth_data.password.decode())
        # handled=False: aiosmtpd answers "535 authentication failed" itself instead of going silent
        return AuthResult(success=given == login, handled=False)

    auth: dict[str, Any] = {}
    if login is not None:
        # auth_required stays off: with plain SMTP aiosmtpd warns on every connection otherwise.
        auth = {"authenticator": authenticate, "auth_require_tls": False}
    controller = _BoundPortController(Handler(), hostname="127.0.0.1", port=0, **auth)
    controller.start()
    receiver.port = controller.port
    try:
        yield receiver
    finally:
        controller.stop()
