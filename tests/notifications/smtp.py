"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 and a free port, with a handler that records what it
accepts and can be told to misbehave (temporary or final refusals, refused recipients, a dropped connection), and
be stopped then started again on the same port (server down, then up)."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notifications.delivery import SmtpSettings


@dataclass(frozen=True)
class Received:
    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]
    connection: int  # which connection (session) carried it, numbered from 1
    login: str  # who authenticated on that connection ("" without AUTH)
    tls: bool  # whether that connection was encrypted

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    data_replies: deque[str] = field(default_factory=deque)  # replies to the next DATA commands ("": accept)
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> reply to its RCPT
    drop_after: int | None = None  # accept this many more messages, then close the connection on the next DATA
    _sessions: list[Session] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connections(self) -> int:
        """Connections that carried at least one transaction (MAIL FROM)."""
        return len(self._sessions)

    def message_ids(self) -> list[str]:
        return [received.message_id for received in self.received]

    def _connection_number(self, session: Session) -> int:
        for number, known in enumerate(self._sessions, start=1):
            if known is session:
                return number
        self._sessions.append(session)
        return len(self._sessions)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        with self._lock:
            self._connection_number(session)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refused:
            return self.refused[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self.drop_after is not None:
                if self.drop_after == 0:
                    self.drop_after = None
                    assert server.transport is not None
                    server.transport.close()
                    return "421 4.3.2 closing the connection"
                self.drop_after -= 1
            reply = self.data_replies.popleft() if self.data_replies else ""
            if reply:
                return reply
            content = envelope.original_content or envelope.content or b""
            assert isinstance(content, bytes)
            message = email.message_from_bytes(content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""
            self.received.append(Received(
                message=message, mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos),
                connection=self._connection_number(session), login=login,
                tls=server.transport is not None and server.transport.get_extra_info("ssl_object") is not None))
        return "250 2.0.0 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate (and its key) for 127.0.0.1, made with the openssl command; (certificate, key)."""
    certificate, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )
    return certificate, key


class SmtpServer:
    """aiosmtpd's threaded Controller on 127.0.0.1; `stop()` then `start()` brings it down and up on the same
    port. Options: `logins` (user → password: AUTH required), `tls` (certificate, key) with `implicit_tls` (TLS
    from the first byte) or STARTTLS (required)."""

    def __init__(self, *, logins: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None,
                 implicit_tls: bool = False) -> None:
        self.handler = RecordingHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.logins = logins
        self.context: ssl.SSLContext | None = None
        if tls is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(str(tls[0]), str(tls[1]))
        self.implicit_tls = implicit_tls
        self._controller: Controller | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert self.logins is not None
        good = isinstance(auth_data, LoginPassword) \
            and self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=good, handled=False, auth_data=auth_data if good else None)

    def settings(self, **options: Any) -> SmtpSettings:
        """Settings to reach this server (EHLO as "localhost": no slow lookup of the machine's full name)."""
        return SmtpSettings(host=self.host, port=self.port, local_hostname="localhost", timeout=5, **options)

    def start(self) -> None:
        assert self._controller is None, "already running"
        options: dict[str, Any] = {}
        if self.logins is not None:
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=self.context is not None and not self.implicit_tls)
        if self.context is not None and self.implicit_tls:
            options["ssl_context"] = self.context
        elif self.context is not None:
            options.update(tls_context=self.context, require_starttls=True)
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
