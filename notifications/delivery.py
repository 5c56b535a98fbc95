"""Delivery: building an email (`Email`, `to_mime`) is separate from sending it (a `Sender`, passed in).

Two senders: `SmtpSender` (aiosmtplib, one connection per batch) and `SinkSender`, the embedded default that keeps
what it "sends" in the `mail_sink` table. A sender never raises for a message the server refuses: it answers one
`SendOutcome` per email — sent, retry later (4xx replies, timeouts, refused or dropped connections) or failed for
good (5xx replies, a message that cannot be written) — and the dispatcher records it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
from aiosmtplib import SMTPResponse
from sqlalchemy import Engine, Table, insert

from notifications.models import Attachment, SinkAttachment, SinkMessage, utcnow

logger = logging.getLogger(__name__)

DEFAULT_MAIL_FROM = "ne-pas-repondre@localhost"
DEFAULT_TIMEOUT = 30.0
URL_FORMS = "smtp://utilisateur:motdepasse@hôte:587?starttls=1 ou smtps://utilisateur:motdepasse@hôte:465"


# ------------------------------------------------------------------------------------------------- the email


@dataclass(frozen=True)
class Email:
    """One message to one recipient, ready to be written (`to_mime`) and sent."""

    message_id: str  # "<…@domain>", the same on every attempt
    sender: str  # the From address, bare or with a name: "Notifications <ne-pas-repondre@example.org>"
    to: str  # one bare address: the envelope recipient and the To header
    subject: str
    text: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # extra headers, replacing defaults of the same name
    to_name: str = ""
    date: datetime | None = None  # the Date header; now when None
    cc: tuple[str, ...] = ()  # bare addresses in copy: the Cc header and envelope recipients
    attachments: tuple[Attachment, ...] = ()  # with any: multipart/mixed around the text (and HTML)

    @property
    def recipients(self) -> list[str]:
        return [self.to, *self.cc]


def _one_line(value: str) -> str:
    return " ".join(value.splitlines()).strip()


def to_mime(email: Email) -> EmailMessage:
    """The MIME message: text and (when there is one) HTML as multipart/alternative, UTF-8 in quoted-printable
    (7-bit safe, no 8BITMIME needed), a stable Message-ID, and marked as automatic so that vacation responders
    stay quiet. Raises ValueError for an address or header that cannot be written."""
    message = EmailMessage()
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime((email.date or datetime.now(UTC)).astimezone(UTC))
    message["From"] = _one_line(email.sender)
    message["To"] = Address(display_name=_one_line(email.to_name), addr_spec=email.to)
    if email.cc:
        message["Cc"] = ", ".join(_one_line(address) for address in email.cc)
    message["Subject"] = _one_line(email.subject)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    for name, value in email.headers.items():
        if name in message:
            message.replace_header(name, _one_line(value))
        else:
            message[name] = _one_line(value)
    message.set_content(email.text, charset="utf-8", cte="quoted-printable")
    if email.html:
        message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in email.attachments:  # turns the message into multipart/mixed, the body first
        message.add_attachment(
            attachment.content, maintype=attachment.maintype, subtype=attachment.subtype,
            filename=_one_line(attachment.filename),
        )
    return message


# ------------------------------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class SendOutcome:
    """What became of one email: sent, to retry later (with why), or failed for good (with why)."""

    status: Literal["sent", "retry", "failed"]
    reason: str = ""

    @classmethod
    def sent(cls) -> SendOutcome:
        return cls("sent")

    @classmethod
    def retry(cls, reason: str) -> SendOutcome:
        return cls("retry", reason)

    @classmethod
    def failed(cls, reason: str) -> SendOutcome:
        return cls("failed", reason)


class Sender(Protocol):
    async def send(self, emails: Sequence[Email]) -> list[SendOutcome]:
        """Send a batch; one outcome per email, in order. Refusals are outcomes, not exceptions."""
        ...


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


def outcome_of_reply(code: int, message: str) -> SendOutcome:
    """A server's refusal: 4xx is temporary (retry), anything else (5xx) is final."""
    reason = _reply(code, message)
    return SendOutcome.retry(reason) if 400 <= code < 500 else SendOutcome.failed(reason)


def outcome_of_refusals(refused: Mapping[str, SMTPResponse]) -> SendOutcome:
    """What aiosmtplib's `send_message` returned normally: the recipients refused while others were accepted (a
    partial refusal raises nothing). No refusal: sent. A temporary refusal among them: retry; otherwise failed."""
    if not refused:
        return SendOutcome.sent()
    reason = "destinataire refusé : " + "; ".join(
        f"{address} ({_reply(reply.code, reply.message)})" for address, reply in sorted(refused.items()))
    if any(400 <= reply.code < 500 for reply in refused.values()):
        return SendOutcome.retry(reason)
    return SendOutcome.failed(reason)


# ------------------------------------------------------------------------------------------------- settings


class DeliveryConfigError(Exception):
    """The delivery settings cannot be used; the message (in French) says what to fix."""


class InvalidSmtpSettings(DeliveryConfigError):
    pass


_TRUE = frozenset({"1", "true", "yes", "on", "oui", "vrai"})
_FALSE = frozenset({"0", "false", "no", "off", "non", "faux"})


def _flag(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidSmtpSettings(f"{what} : valeur « {value} » non reconnue ; utilisez 1 ou 0 (oui ou non).")


def _seconds(value: str, what: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise InvalidSmtpSettings(f"{what} : « {value} » n'est pas un nombre de secondes positif.")
    return seconds


def _port(value: str, what: str) -> int:
    if not value.strip().isdigit() or not 0 < int(value) < 65536:
        raise InvalidSmtpSettings(f"{what} : « {value} » n'est pas un numéro de port (1 à 65535).")
    return int(value)


def _mail_from(value: str, what: str) -> str:
    _name, address = parseaddr(value)
    if "@" not in address or any(char in value for char in "\r\n"):
        raise InvalidSmtpSettings(
            f"{what} : « {value} » n'est pas une adresse d'expéditeur ; "
            "exemple : ne-pas-repondre@example.org ou « Notifications <ne-pas-repondre@example.org> ».")
    return value.strip()


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. `use_tls`: TLS from the first byte (smtps, port 465); `start_tls`: True requires
    STARTTLS, False never uses it, None upgrades when the server offers it (aiosmtplib's default)."""

    host: str
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    use_tls: bool = False
    start_tls: bool | None = None
    timeout: float = DEFAULT_TIMEOUT
    sender: str = DEFAULT_MAIL_FROM
    validate_certs: bool = True
    ca_file: str | None = None  # certificates to trust besides the system's (a private authority)
    local_hostname: str | None = None  # the name given in EHLO; the machine's full name when None

    def __post_init__(self) -> None:
        if self.use_tls and self.start_tls:
            raise InvalidSmtpSettings(
                "TLS implicite (smtps) et STARTTLS s'excluent : choisissez l'un ou l'autre "
                "(smtps://hôte:465, ou smtp://hôte:587?starttls=1).")

    @classmethod
    def from_url(cls, url: str, *, sender: str = DEFAULT_MAIL_FROM) -> SmtpSettings:
        """`smtp://user:pass@host:587?starttls=1`, `smtps://user:pass@host` (implicit TLS, port 465). Options:
        starttls, timeout (seconds), verify (0 to skip certificate checks), cafile, from (the sender address).
        User and password are percent-encoded (`%40` for @)."""
        shown = _masked(url)
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise InvalidSmtpSettings(
                f"adresse SMTP invalide : « {shown} » (port incorrect) ; utilisez {URL_FORMS}.") from None
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise InvalidSmtpSettings(
                f"adresse SMTP invalide : « {shown} » — le schéma doit être smtp ou smtps ; utilisez {URL_FORMS}.")
        if not parts.hostname:
            raise InvalidSmtpSettings(f"adresse SMTP invalide : « {shown} » — hôte manquant ; utilisez {URL_FORMS}.")
        if parts.path not in ("", "/"):
            raise InvalidSmtpSettings(
                f"adresse SMTP invalide : « {shown} » — chemin « {parts.path} » inattendu ; utilisez {URL_FORMS}.")
        options: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name.lower() not in ("starttls", "timeout", "verify", "cafile", "from"):
                raise InvalidSmtpSettings(
                    f"adresse SMTP invalide : « {shown} » — option « {name} » inconnue "
                    "(options : starttls, timeout, verify, cafile, from).")
            options[name.lower()] = value
        use_tls = scheme == "smtps"
        start_tls = _flag(options["starttls"], "option starttls") if "starttls" in options else None
        default_port = 465 if use_tls else 587 if start_tls else 25
        return cls(
            host=parts.hostname,
            port=port or default_port,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            use_tls=use_tls,
            start_tls=start_tls,
            timeout=_seconds(options["timeout"], "option timeout") if "timeout" in options else DEFAULT_TIMEOUT,
            sender=_mail_from(options["from"], "option from") if "from" in options else sender,
            validate_certs=_flag(options["verify"], "option verify") if "verify" in options else True,
            ca_file=options.get("cafile") or None,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """ROADMAP_SMTP_URL, or ROADMAP_SMTP_HOST with ROADMAP_SMTP_PORT, _USER, _PASSWORD, _TLS, _STARTTLS,
        _TIMEOUT, _CAFILE; the sender from ROADMAP_MAIL_FROM. None when no server is configured (the embedded
        sink is then used)."""
        env = os.environ if environ is None else environ
        values = {name: value for name, value in env.items()
                  if name.startswith("ROADMAP_SMTP_") and value.strip()}
        sender = _mail_from(env["ROADMAP_MAIL_FROM"], "ROADMAP_MAIL_FROM") \
            if env.get("ROADMAP_MAIL_FROM", "").strip() else DEFAULT_MAIL_FROM
        url = values.pop("ROADMAP_SMTP_URL", "")
        if url:
            if values:
                raise InvalidSmtpSettings(
                    f"ROADMAP_SMTP_URL et {', '.join(sorted(values))} sont tous définis : gardez l'adresse seule, "
                    "ou retirez-la et gardez les variables séparées.")
            return cls.from_url(url, sender=sender)
        if not values:
            return None
        host = values.pop("ROADMAP_SMTP_HOST", "")
        if not host:
            raise InvalidSmtpSettings(
                f"{', '.join(sorted(values))} défini(s) sans ROADMAP_SMTP_HOST : indiquez le serveur SMTP "
                "(ROADMAP_SMTP_HOST ou ROADMAP_SMTP_URL).")
        known = {"ROADMAP_SMTP_PORT", "ROADMAP_SMTP_USER", "ROADMAP_SMTP_PASSWORD", "ROADMAP_SMTP_TLS",
                 "ROADMAP_SMTP_STARTTLS", "ROADMAP_SMTP_TIMEOUT", "ROADMAP_SMTP_CAFILE"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidSmtpSettings(
                f"variable(s) inconnue(s) : {', '.join(unknown)} ; variables reconnues : ROADMAP_SMTP_URL, "
                "ROADMAP_SMTP_HOST, " + ", ".join(sorted(known)) + ".")
        use_tls = _flag(values["ROADMAP_SMTP_TLS"], "ROADMAP_SMTP_TLS") if "ROADMAP_SMTP_TLS" in values else False
        start_tls = (_flag(values["ROADMAP_SMTP_STARTTLS"], "ROADMAP_SMTP_STARTTLS")
                     if "ROADMAP_SMTP_STARTTLS" in values else None)
        default_port = 465 if use_tls else 587 if start_tls else 25
        return cls(
            host=host.strip(),
            port=_port(values["ROADMAP_SMTP_PORT"], "ROADMAP_SMTP_PORT") if "ROADMAP_SMTP_PORT" in values
            else default_port,
            username=values.get("ROADMAP_SMTP_USER", ""),
            password=values.get("ROADMAP_SMTP_PASSWORD", ""),
            use_tls=use_tls,
            start_tls=start_tls,
            timeout=_seconds(values["ROADMAP_SMTP_TIMEOUT"], "ROADMAP_SMTP_TIMEOUT")
            if "ROADMAP_SMTP_TIMEOUT" in values else DEFAULT_TIMEOUT,
            sender=sender,
            ca_file=values.get("ROADMAP_SMTP_CAFILE"),
        )


def _masked(url: str) -> str:
    """The URL as typed, its password hidden (error messages end up in logs)."""
    try:
        parts = urlsplit(url.strip())
        if parts.password is None:
            return url.strip()
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    except ValueError:
        return "(adresse illisible)"


# ------------------------------------------------------------------------------------------------- senders


class SmtpSender:
    """Sends a batch over ONE connection. Per message: 4xx, timeouts and lost connections → retry; 5xx → failed;
    a refused recipient (raised when it was the only one, returned when others were accepted) is detected. A
    connection that cannot be opened (refused, TLS, login) makes the whole batch retry; one that drops mid-batch
    makes the rest of the batch retry."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host, port=s.port, username=s.username or None, password=s.password or None,
            use_tls=s.use_tls, start_tls=s.start_tls, timeout=s.timeout, validate_certs=s.validate_certs,
            cert_bundle=s.ca_file, local_hostname=s.local_hostname,
        )

    async def send(self, emails: Sequence[Email]) -> list[SendOutcome]:
        if not emails:
            return []
        client = self._client()
        where = f"{self.settings.host}:{self.settings.port}"
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as error:  # greeting, EHLO, STARTTLS or login refused
            reason = f"connexion à {where} refusée : {_reply(error.code, error.message)}"
            return [SendOutcome.retry(reason) for _ in emails]
        except (aiosmtplib.SMTPException, OSError) as error:  # refused, unreachable, timeout, TLS failure
            reason = f"connexion à {where} impossible : {error}"
            return [SendOutcome.retry(reason) for _ in emails]
        outcomes: list[SendOutcome] = []
        try:
            for email in emails:
                outcome, connection_lost = await self._send_one(client, email)
                outcomes.append(outcome)
                if connection_lost or not client.is_connected:
                    lost = f"connexion à {where} perdue en cours de lot : {outcome.reason or 'fermée'}"
                    outcomes.extend(SendOutcome.retry(lost) for _ in emails[len(outcomes):])
                    break
        finally:
            await _close(client)
        return outcomes

    @staticmethod
    async def _send_one(client: aiosmtplib.SMTP, email: Email) -> tuple[SendOutcome, bool]:
        """The outcome, and whether the connection is lost."""
        try:
            message = to_mime(email)
        except (ValueError, TypeError, IndexError, MessageError) as error:  # e.g. a malformed address
            return SendOutcome.failed(f"message impossible à écrire : {error}"), False
        envelope_sender = parseaddr(email.sender)[1] or email.sender
        try:
            refused, _reply_text = await client.send_message(
                message, sender=envelope_sender, recipients=email.recipients)
        except aiosmtplib.SMTPRecipientsRefused as error:
            return outcome_of_refusals({refusal.recipient: SMTPResponse(refusal.code, refusal.message)
                                        for refusal in error.recipients}), False
        except aiosmtplib.SMTPResponseException as error:  # MAIL FROM or DATA refused (421 also closes)
            return outcome_of_reply(error.code, error.message), not client.is_connected
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as error:
            return SendOutcome.retry(f"connexion interrompue : {error or type(error).__name__}"), True
        except aiosmtplib.SMTPNotSupported as error:  # e.g. an address needing SMTPUTF8 the server lacks
            return SendOutcome.failed(f"non pris en charge par le serveur : {error}"), False
        except ValueError as error:  # an address aiosmtplib will not put on the wire
            return SendOutcome.failed(f"adresse invalide : {error}"), False
        except aiosmtplib.SMTPException as error:
            return SendOutcome.retry(f"erreur SMTP : {error}"), not client.is_connected
        return outcome_of_refusals(refused), False


async def _close(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


class SinkSender:
    """The embedded default: every email goes into the `mail_sink` table (one transaction per batch, separate
    from the outbox's) and counts as sent."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    async def send(self, emails: Sequence[Email]) -> list[SendOutcome]:
        if not emails:
            return []
        received = self.clock()
        table: Table = SinkMessage.__table__  # type: ignore[attr-defined]
        files: Table = SinkAttachment.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as connection:
            for email in emails:
                row = {
                    "message_id": email.message_id,
                    "received_at": received,
                    "sender": email.sender,
                    "recipients": email.recipients,
                    "subject": _one_line(email.subject),
                    "text_body": email.text,
                    "html_body": email.html,
                }
                sink_id = connection.execute(insert(table).returning(table.c.id), row).scalar_one()
                if email.attachments:
                    connection.execute(insert(files), [
                        {"sink_id": sink_id, "position": position, "filename": attachment.filename,
                         "content_type": attachment.content_type, "size": len(attachment.content),
                         "content": attachment.content}
                        for position, attachment in enumerate(email.attachments)
                    ])
        return [SendOutcome.sent() for _ in emails]


def sender_for(settings: SmtpSettings | None, engine: Engine) -> Sender:
    """The SMTP sender when a server is configured, the embedded sink otherwise."""
    return SmtpSender(settings) if settings is not None else SinkSender(engine)
