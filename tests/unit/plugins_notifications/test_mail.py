"""MailSend and MailExecution against a local SMTP server (aiosmtpd) started by the test."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kernel.plugin import TaskFailed
from plugins.notifications.mail import MailExecution, MailSend
from tests.unit.fake_context import allow_loopback
from tests.unit.plugins_notifications.helpers import FAILED_EXECUTION, SummaryContext

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (dev extra)")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

PASSWORD = "s3cret-mail-password"


@dataclass
class Inbox:
    """What the server received: (envelope sender, recipients, parsed message), and logins."""

    port: int
    mails: list[tuple[str, list[str], email.message.EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.inbox.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def smtp() -> Iterator[Inbox]:
    inbox = Inbox(port=_free_port())

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        inbox.logins.append((login, password))
        # handled=False: aiosmtpd answers 535 itself (handled=True would leave it to us)
        return aiosmtpd_smtp.AuthResult(success=password == PASSWORD, handled=False)

    controller = aiosmtpd_controller.Controller(
        _Handler(inbox), hostname="127.0.0.1", port=inbox.port,
        authenticator=authenticator, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings, smtp) -> None:
    allow_loopback(settings)
    smtp.mails.clear()
    smtp.logins.clear()


@pytest.fixture
def ctx(tmp_path: Path) -> SummaryContext:
    return SummaryContext(tmp_path, secrets=[PASSWORD])


def server_props(smtp: Inbox, **more: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": smtp.port, "transportStrategy": "SMTP",
            "sessionTimeout": 5000, **more}  # fmt: skip


def test_mail_send_with_html_text_cc_and_an_attachment_from_storage(smtp, ctx, tmp_path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("id,value\n1,42\n")
    uri = ctx.put_file(report)
    props = server_props(
        smtp,
        username="robot",
        password=PASSWORD,
        **{"from": "robot@example.com"},
        to="ops@example.com; lead@example.com",
        cc=["boss@example.com"],
        subject="Nightly report",
        htmlTextContent="<p>See <b>attached</b></p>",
        plainTextContent="See attached",
        attachments=[{"name": "report.csv", "uri": uri, "contentType": "text/csv"}],
    )

    assert MailSend().run(props, ctx) == {}

    ((sender, recipients, message),) = smtp.mails
    assert sender == "robot@example.com"
    assert recipients == ["ops@example.com", "lead@example.com", "boss@example.com"]
    assert smtp.logins == [("robot", PASSWORD)]
    assert message["Subject"] == "Nightly report"
    assert message["From"] == "robot@example.com"
    assert message["To"] == "ops@example.com, lead@example.com"
    assert message["Cc"] == "boss@example.com"
    assert message.get_body(("plain",)).get_content().strip() == "See attached"
    assert message.get_body(("html",)).get_content().strip() == "<p>See <b>attached</b></p>"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == b"id,value\n1,42\n"
    assert not any(PASSWORD in line for line in ctx.logger.lines())


def test_html_only_mail_gets_kestras_plain_fallback_and_embedded_image(smtp, ctx, tmp_path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG fake")
    uri = ctx.put_file(logo)
    props = server_props(smtp, **{"from": "a@example.com"}, to="b@example.com",
                         htmlTextContent='<img src="cid:logo.png">',
                         embeddedImages=[{"name": "logo.png", "uri": uri,
                                          "contentType": "image/png"}])  # fmt: skip

    MailSend().run(props, ctx)

    ((_, _, message),) = smtp.mails
    plain = message.get_body(("plain",)).get_content().strip()
    assert plain == "Please view this email in a modern email client"
    related = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert related[0]["Content-ID"] == "<logo.png>"
    assert related[0].get_payload(decode=True) == b"\x89PNG fake"


def test_a_wrong_password_fails_without_showing_it(smtp, ctx) -> None:
    props = server_props(smtp, username="robot", password="wrong-one",
                         **{"from": "a@example.com"}, to="b@example.com", subject="x")  # fmt: skip

    with pytest.raises(TaskFailed, match="refused the login") as info:
        MailSend().run(props, ctx)

    assert "wrong-one" not in str(info.value)
    assert smtp.mails == []


def test_the_host_guard_applies_to_smtp(smtp, ctx, settings) -> None:
    settings.TRELLIS_HTTP_ALLOW = ""
    props = server_props(smtp, **{"from": "a@example.com"}, to="b@example.com")

    with pytest.raises(TaskFailed, match=r"mail server 127\.0\.0\.1:\d+ refused: 127.0.0.1 is a "
                                         r"loopback address"):  # fmt: skip
        MailSend().run(props, ctx)
    assert smtp.mails == []


def test_smtps_against_a_plain_server_fails_cleanly(smtp, ctx) -> None:
    props = server_props(smtp, transportStrategy="SMTPS", sessionTimeout=2000,
                         **{"from": "a@example.com"}, to="b@example.com")  # fmt: skip

    with pytest.raises(TaskFailed, match="sending the e-mail through 127.0.0.1"):
        MailSend().run(props, ctx)


def test_attachment_outside_storage_fails(smtp, ctx) -> None:
    props = server_props(smtp, **{"from": "a@example.com"}, to="b@example.com",
                         attachments=[{"name": "x", "uri": "kestra:///other/x"}])  # fmt: skip
    with pytest.raises(FileNotFoundError):
        MailSend().run(props, ctx)


def test_mail_execution_sums_up_the_execution(smtp, ctx) -> None:
    props = server_props(smtp, **{"from": "a@example.com"}, to="b@example.com",
                         customFields={"Env": "prod"})  # fmt: skip

    MailExecution().run(props, ctx)

    ((_, _, message),) = smtp.mails
    assert message["Subject"] == (
        "[company.team] nightly ➛ FAILED: Failed on task `load` after 2m 5s"
    )
    plain = message.get_body(("plain",)).get_content()
    assert f"Execution: {FAILED_EXECUTION['id']}" in plain
    assert "Env: prod" in plain
    assert FAILED_EXECUTION["link"] in message.get_body(("html",)).get_content()


def test_smtp_tls_needs_starttls_from_the_server(smtp, ctx) -> None:
    props = server_props(smtp, transportStrategy="SMTP_TLS", **{"from": "a@example.com"},
                         to="b@example.com")  # fmt: skip

    with pytest.raises(TaskFailed, match="STARTTLS extension not supported"):
        MailSend().run(props, ctx)
    assert smtp.mails == []
