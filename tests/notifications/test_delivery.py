"""Delivery: the MIME message, the SMTP settings, and the two senders against real components (aiosmtpd on
127.0.0.1, the migrated database)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from notifications.delivery import (
    DeliveryConfigError,
    Email,
    InvalidSmtpSettings,
    SendOutcome,
    SinkSender,
    SmtpSender,
    SmtpSettings,
    outcome_of_refusals,
    to_mime,
)
from notifications.models import Attachment, SinkAttachment, SinkMessage
from tests.notifications.smtp import SmtpServer, self_signed_certificate

SENT = SendOutcome.sent()


def mail(number: int = 1, to: str = "ien@example.org", **changes: Any) -> Email:
    values: dict[str, Any] = {
        "message_id": f"<m{number}@example.org>", "sender": "Notifications <ne-pas-repondre@example.org>",
        "to": to, "subject": f"Rappel n° {number}", "text": "Bonjour,\nÀ faire.", "html": "<p>À faire.</p>"}
    values.update(changes)
    return Email(**values)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def smtp_sender(server: SmtpServer, **options: object) -> SmtpSender:
    return SmtpSender(server.settings(**options))


def send(sender: SmtpSender | SinkSender, emails: Sequence[Email]) -> list[SendOutcome]:
    return asyncio.run(sender.send(emails))


# ------------------------------------------------------------------------------------------------- the message


def test_the_message_has_both_parts_a_stable_id_and_says_it_is_automatic() -> None:
    date = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    message = to_mime(mail(to_name="Jeanne Lévêque, IEN", subject="Rappel :\r\ncompte rendu", date=date,
                           headers={"Auto-Submitted": "auto-replied", "X-Kind": "reminder"}))
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert text.get_content() == "Bonjour,\nÀ faire.\n" and html.get_content() == "<p>À faire.</p>\n"
    assert message["Message-ID"] == "<m1@example.org>"
    assert message["Date"] == "Mon, 23 Nov 2026 08:30:00 +0000"
    assert message["Subject"] == "Rappel : compte rendu"  # no header injection through a line break
    assert message["Auto-Submitted"] == "auto-replied" and message["X-Kind"] == "reminder"  # extra headers win
    assert message["To"].addresses[0].display_name == "Jeanne Lévêque, IEN"
    assert message["To"].addresses[0].addr_spec == "ien@example.org"
    assert message.as_bytes().isascii()  # 7-bit on the wire: no 8BITMIME needed


def test_a_message_without_html_is_plain_text() -> None:
    message = to_mime(mail(html=""))
    assert message.get_content_type() == "text/plain" and message["Auto-Submitted"] == "auto-generated"


# ------------------------------------------------------------------------------------------------- settings


def test_settings_from_a_url() -> None:
    settings = SmtpSettings.from_url("smtp://mailer:p%40ss%3Aw@mail.example.org:2525?starttls=1&timeout=12")
    assert (settings.host, settings.port, settings.username, settings.password) == \
        ("mail.example.org", 2525, "mailer", "p@ss:w")
    assert (settings.use_tls, settings.start_tls, settings.timeout) == (False, True, 12.0)
    assert "p@ss" not in repr(settings)
    secure = SmtpSettings.from_url("smtps://relay.example.org?from=Notifications%20<n@example.org>")
    assert (secure.port, secure.use_tls, secure.start_tls, secure.sender) == \
        (465, True, None, "Notifications <n@example.org>")
    assert SmtpSettings.from_url("smtp://relay.example.org?starttls=oui").port == 587
    assert SmtpSettings.from_url("smtp://relay.example.org").port == 25


@pytest.mark.parametrize(("url", "words"), [
    ("http://relay.example.org", "schéma"),
    ("smtp://", "hôte manquant"),
    ("smtp://relay.example.org:99999", "port incorrect"),
    ("smtp://relay.example.org?tls=1", "option « tls » inconnue"),
    ("smtp://relay.example.org?starttls=peut-être", "starttls"),
    ("smtps://relay.example.org?starttls=1", "s'excluent"),
    ("smtp://user:secret@relay.example.org/boite", "chemin"),
])
def test_a_bad_url_is_refused_in_french_without_showing_the_password(url: str, words: str) -> None:
    with pytest.raises(InvalidSmtpSettings) as raised:
        SmtpSettings.from_url(url)
    assert isinstance(raised.value, DeliveryConfigError)
    assert words in str(raised.value) and "secret" not in str(raised.value)


def test_settings_from_the_environment() -> None:
    assert SmtpSettings.from_env({}) is None  # nothing configured: the embedded sink
    from_url = SmtpSettings.from_env({"ROADMAP_SMTP_URL": "smtps://u:p@relay.example.org",
                                      "ROADMAP_MAIL_FROM": "ne-pas-repondre@example.org"})
    assert from_url is not None and (from_url.host, from_url.sender) == ("relay.example.org",
                                                                         "ne-pas-repondre@example.org")
    separate = SmtpSettings.from_env({"ROADMAP_SMTP_HOST": "relay.example.org", "ROADMAP_SMTP_PORT": "2525",
                                      "ROADMAP_SMTP_USER": "u", "ROADMAP_SMTP_PASSWORD": "p",
                                      "ROADMAP_SMTP_STARTTLS": "1"})
    assert separate == SmtpSettings(host="relay.example.org", port=2525, username="u", password="p",
                                    start_tls=True)
    for environ, words in [
        ({"ROADMAP_SMTP_URL": "smtp://a", "ROADMAP_SMTP_HOST": "b"}, "tous définis"),
        ({"ROADMAP_SMTP_PORT": "25"}, "sans ROADMAP_SMTP_HOST"),
        ({"ROADMAP_SMTP_HOST": "a", "ROADMAP_SMTP_PORT": "vingt-cinq"}, "numéro de port"),
        ({"ROADMAP_SMTP_HOST": "a", "ROADMAP_SMTP_TSL": "1"}, "ROADMAP_SMTP_TSL"),
        ({"ROADMAP_SMTP_HOST": "a", "ROADMAP_MAIL_FROM": "personne"}, "adresse d'expéditeur"),
    ]:
        with pytest.raises(DeliveryConfigError, match=words):
            SmtpSettings.from_env(environ)


# ------------------------------------------------------------------------------------------------- SMTP


def test_a_batch_goes_over_one_connection(smtp: SmtpServer) -> None:
    emails = [mail(number) for number in range(20)]
    assert send(smtp_sender(smtp), emails) == [SENT] * 20
    assert smtp.handler.connections == 1
    assert smtp.handler.message_ids() == [email.message_id for email in emails]
    first = smtp.handler.received[0]
    assert first.mail_from == "ne-pas-repondre@example.org" and first.rcpt_tos == ("ien@example.org",)
    assert first.message["Subject"] == "Rappel n° 0"


def test_replies_make_retries_and_failures_per_message_on_the_same_connection(smtp: SmtpServer) -> None:
    smtp.handler.data_replies.extend(["", "451 4.3.0 Try again later", "550 5.7.1 Rejected"])
    outcomes = send(smtp_sender(smtp), [mail(1), mail(2), mail(3), mail(4)])
    assert [outcome.status for outcome in outcomes] == ["sent", "retry", "failed", "sent"]
    assert outcomes[1].reason == "451 4.3.0 Try again later" and outcomes[2].reason == "550 5.7.1 Rejected"
    assert smtp.handler.connections == 1 and smtp.handler.message_ids() == ["<m1@example.org>", "<m4@example.org>"]


def test_a_refused_recipient_is_detected(smtp: SmtpServer) -> None:
    smtp.handler.refused = {"parti@example.org": "550 5.1.1 No such user",
                            "plein@example.org": "452 4.2.2 Mailbox full"}
    outcomes = send(smtp_sender(smtp), [mail(1, to="parti@example.org"), mail(2), mail(3, to="plein@example.org")])
    assert [outcome.status for outcome in outcomes] == ["failed", "sent", "retry"]
    assert "parti@example.org" in outcomes[0].reason and "550 5.1.1" in outcomes[0].reason
    assert smtp.handler.message_ids() == ["<m2@example.org>"]


def test_an_address_that_cannot_be_written_fails_alone(smtp: SmtpServer) -> None:
    outcomes = send(smtp_sender(smtp), [mail(1, to="x@"), mail(2, to="<a@b>"), mail(3, to="a@b.org\r\nBcc: c@d.org"),
                                        mail(4)])
    assert [outcome.status for outcome in outcomes] == ["failed", "failed", "failed", "sent"]
    assert outcomes[0].reason.startswith("message impossible à écrire")
    assert smtp.handler.message_ids() == ["<m4@example.org>"]


def test_a_partial_refusal_returns_normally_from_aiosmtplib_and_is_detected(smtp: SmtpServer) -> None:
    """aiosmtplib raises only when EVERY recipient is refused; the dispatcher sends one recipient per message, and
    the sender still checks what send_message returns, with the same rule."""
    smtp.handler.refused = {"parti@example.org": "550 5.1.1 No such user"}

    async def two_recipients() -> dict[str, aiosmtplib.SMTPResponse]:
        async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, local_hostname="localhost") as client:
            refused, _ = await client.send_message(to_mime(mail()), sender="n@example.org",
                                                   recipients=["ien@example.org", "parti@example.org"])
        return refused

    refused = asyncio.run(two_recipients())
    assert set(refused) == {"parti@example.org"}  # no exception: the trap
    outcome = outcome_of_refusals(refused)
    assert outcome.status == "failed" and "parti@example.org (550 5.1.1 No such user)" in outcome.reason
    assert outcome_of_refusals({"a@example.org": aiosmtplib.SMTPResponse(451, "later")}).status == "retry"
    assert outcome_of_refusals({}) == SENT


def test_a_server_down_then_up(smtp: SmtpServer) -> None:
    smtp.stop()
    outcomes = send(smtp_sender(smtp), [mail(1), mail(2)])
    assert [outcome.status for outcome in outcomes] == ["retry", "retry"]
    assert "connexion" in outcomes[0].reason
    smtp.start()
    assert send(smtp_sender(smtp), [mail(1), mail(2)]) == [SENT, SENT]


def test_a_connection_dropped_mid_batch_makes_the_rest_retry(smtp: SmtpServer) -> None:
    smtp.handler.drop_after = 2
    outcomes = send(smtp_sender(smtp), [mail(number) for number in range(1, 6)])
    assert [outcome.status for outcome in outcomes] == ["sent", "sent", "retry", "retry", "retry"]
    assert "perdue" in outcomes[3].reason
    assert smtp.handler.message_ids() == ["<m1@example.org>", "<m2@example.org>"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd, unaware of implicit TLS
@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
def test_tls_and_login(tmp_path: Path, implicit_tls: bool) -> None:
    certificate, key = self_signed_certificate(tmp_path)
    with SmtpServer(logins={"mailer": "s3cret"}, tls=(certificate, key), implicit_tls=implicit_tls) as server:
        tls = {"use_tls": True} if implicit_tls else {"start_tls": True}
        good = smtp_sender(server, username="mailer", password="s3cret", ca_file=str(certificate), **tls)
        assert send(good, [mail()]) == [SENT]
        assert (server.handler.received[0].login, server.handler.received[0].tls) == ("mailer", True)
        wrong = smtp_sender(server, username="mailer", password="wrong", ca_file=str(certificate), **tls)
        [outcome] = send(wrong, [mail(2)])
        assert outcome.status == "retry" and "535" in outcome.reason  # the settings, not the message, are at fault
        untrusted = smtp_sender(server, username="mailer", password="s3cret", **tls)
        assert send(untrusted, [mail(3)])[0].status == "retry"  # an unknown certificate is refused
    assert len(server.handler.received) == 1


# ------------------------------------------------------------------------------------------------- the sink


def test_the_sink_keeps_what_it_gets(db: Engine) -> None:
    clock = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    assert send(SinkSender(db, clock=lambda: clock), [mail(1), mail(2, to="cpd@example.org", html="")]) == [SENT] * 2
    with Session(db) as session:
        kept = session.exec(select(SinkMessage).order_by(SinkMessage.id)).all()  # type: ignore[arg-type]
    assert [(row.message_id, row.recipients, row.subject) for row in kept] == [
        ("<m1@example.org>", ["ien@example.org"], "Rappel n° 1"),
        ("<m2@example.org>", ["cpd@example.org"], "Rappel n° 2")]
    assert kept[0].sender == "Notifications <ne-pas-repondre@example.org>"
    assert kept[0].text_body == "Bonjour,\nÀ faire." and kept[0].html_body == "<p>À faire.</p>"


PDF = Attachment("compte-rendu.pdf", "application/pdf", b"%PDF-1.4\n\x00\xff binary")
SHEET = Attachment("tableau.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04")


def test_attachments_and_copies_reach_the_smtp_server(smtp: SmtpServer) -> None:
    email = mail(1, cc=("dane@example.org", "cpd@example.org"), attachments=(PDF, SHEET))
    plain = mail(2)
    assert send(smtp_sender(smtp), [email, plain]) == [SENT] * 2
    first, second = smtp.handler.received
    assert first.rcpt_tos == ("ien@example.org", "dane@example.org", "cpd@example.org")
    assert first.message["Cc"] == "dane@example.org, cpd@example.org"
    assert first.message.get_content_type() == "multipart/mixed"
    body = first.message.get_body(preferencelist=("plain", "html"))
    assert body is not None and "À faire." in body.get_content()  # the text (and HTML) come first
    files = [(part.get_filename(), part.get_content_type(), part.get_content()) for part in
             first.message.iter_attachments()]
    assert files == [(PDF.filename, PDF.content_type, PDF.content), (SHEET.filename, SHEET.content_type,
                                                                      SHEET.content)]
    assert second.message.get_content_type() == "multipart/alternative" and "Cc" not in second.message


def test_the_sink_keeps_attachments_and_copies(db: Engine) -> None:
    assert send(SinkSender(db), [mail(1, cc=("dane@example.org",), attachments=(PDF,)), mail(2)]) == [SENT] * 2
    with Session(db) as session:
        kept = session.exec(select(SinkMessage).order_by(SinkMessage.id)).all()  # type: ignore[arg-type]
        files = session.exec(select(SinkAttachment)).all()
    assert kept[0].recipients == ["ien@example.org", "dane@example.org"] and kept[1].recipients == ["ien@example.org"]
    assert [(f.sink_id, f.filename, f.content_type, f.size, f.content) for f in files] == [
        (kept[0].id, PDF.filename, PDF.content_type, len(PDF.content), PDF.content)]
