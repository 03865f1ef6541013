"""Local receivers for alert tests: an HTTP endpoint and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    """What the HTTP endpoint was sent, and the statuses it answers with, in turn."""

    url: str
    statuses: list[int] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@contextmanager
def http_receiver(*statuses: int) -> Iterator[Receiver]:
    """Answers each POST with the next of `statuses` (200 once they run out)."""
    answers = list(statuses)
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            receiver.bodies.append(json.loads(self.rfile.read(length) or b"null"))
            receiver.paths.append(self.path)
            status = answers.pop(0) if answers else 200
            receiver.statuses.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_port}/hook/T0KEN-SECRET")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list = field(default_factory=list)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An aiosmtpd server on a free loopback port that keeps every message it receives."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox(port)

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            mailbox.messages.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
