"""E-mail over SMTP (stdlib ``smtplib``): MailSend, and MailExecution's summary.

``transportStrategy`` keeps Kestra's names: ``SMTPS`` (TLS from the first byte, port 465,
Kestra's default), ``SMTP_TLS`` (plain, then STARTTLS, port 587) and ``SMTP`` (no TLS,
port 25). Attachments and embedded images come from internal storage (``kestra://`` URIs
of this execution), named and typed by the flow.

The connection to the mail server goes through the HTTP task's host policy
(:mod:`plugins._shared.guard`) like every outbound connection a flow asks for: a flow author
must not be able to probe the worker's neighbours through SMTP. A relay on a private
address is opened by ``TRELLIS_HTTP_ALLOW`` (its address, network or host name). The
password is never logged; log lines name the server and the number of recipients only.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, RunnableTask, TaskFailed
from plugins._shared.guard import DestinationRefused, HostPolicy, current_policy
from plugins.notifications.summary import EXECUTION_PROPS, Summary, summarize

_OLD = "io.kestra.plugin.notifications.mail"
STRATEGIES = ("SMTP", "SMTPS", "SMTP_TLS")
DEFAULT_PORTS = {"SMTP": 25, "SMTPS": 465, "SMTP_TLS": 587}
#: What Kestra puts in the plain-text part of an HTML-only mail.
PLAIN_FALLBACK = "Please view this email in a modern email client"

_SERVER = (
    Prop("host", "string", required=True, description="The SMTP server's host."),
    Prop("port", "integer", description="465 for SMTPS, 587 for SMTP_TLS, 25 for SMTP."),
    Prop("username", "string"),
    Prop("password", "string", description="A secret: use {{ secret('...') }}."),
    Prop("transportStrategy", "string", default="SMTPS", choices=STRATEGIES),
    Prop("sessionTimeout", "integer", default=10000, description="Milliseconds."),
)
_HEADERS = (
    Prop("from", "string", required=True),
    Prop(
        "to",
        "any",
        required=True,
        description="Addresses: a list, or one string separated by ';' or ','.",
    ),  # fmt: skip
    Prop("cc", "any", description="Carbon-copy addresses, as `to`."),
    Prop("subject", "string"),
)
_FILES = (
    Prop(
        "attachments",
        "any",
        description="A list (or its JSON) of {name, uri, contentType}: files of internal storage.",
    ),  # fmt: skip
    Prop(
        "embeddedImages",
        "any",
        description="Images the HTML shows as cid:<name>; like attachments.",
    ),  # fmt: skip
)


def addresses(raw: Any) -> list[str]:
    """``"a@x; b@y"``, ``"a@x,b@y"`` or ``["a@x", "b@y"]`` -> ``["a@x", "b@y"]``."""
    if raw in (None, ""):
        return []
    items = raw if isinstance(raw, list | tuple) else re.split(r"[;,]", str(raw))
    return [str(item).strip() for item in items if str(item).strip()]


def file_entries(raw: Any, name: str) -> list[dict[str, str]]:
    """Attachments as a list of maps, given as a list or its JSON text."""
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise TaskFailed(f"{name} must be a list of {{name, uri}} maps: {exc}") from None
        if isinstance(raw, str):  # Kestra accepts the JSON of a JSON string too
            return file_entries(raw, name)
    if not isinstance(raw, list):
        raise TaskFailed(f"{name} must be a list of {{name, uri}} maps")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not item.get("uri"):
            raise TaskFailed(f"{name}[{i}] needs a uri (a file of internal storage)")
        uri = str(item["uri"])
        filename = str(item.get("name") or uri.rsplit("/", 1)[-1])
        guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        out.append({"name": filename, "uri": uri,
                    "contentType": str(item.get("contentType") or guessed)})  # fmt: skip
    return out


def _split_type(content_type: str) -> tuple[str, str]:
    main, _, sub = content_type.partition("/")
    return (main or "application"), (sub.split(";", 1)[0] or "octet-stream")


def build_message(props: Mapping[str, Any], ctx: RunContext) -> EmailMessage:
    """The message the properties describe: plain text and/or HTML alternatives, embedded
    images related to the HTML, attachments read from internal storage."""
    to, cc = addresses(props.get("to")), addresses(props.get("cc"))
    if not to:
        raise TaskFailed("to names no recipient")
    sender = str(props.get("from") or "").strip()
    if not sender:
        raise TaskFailed("from is required")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = str(props.get("subject") or "")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    html_text = props.get("htmlTextContent")
    plain = props.get("plainTextContent")
    if plain in (None, ""):
        plain = PLAIN_FALLBACK if html_text else ""
    msg.set_content(str(plain))
    if html_text:
        msg.add_alternative(str(html_text), subtype="html")
        images = file_entries(props.get("embeddedImages"), "embeddedImages")
        if images:
            part = msg.get_body(("html",))
            assert part is not None
            for image in images:
                main, sub = _split_type(image["contentType"])
                part.add_related(
                    ctx.open_uri(image["uri"]).read_bytes(), main, sub,
                    cid=f"<{image['name']}>", filename=image["name"],
                )  # fmt: skip
    for attachment in file_entries(props.get("attachments"), "attachments"):
        main, sub = _split_type(attachment["contentType"])
        msg.add_attachment(
            ctx.open_uri(attachment["uri"]).read_bytes(), maintype=main, subtype=sub,
            filename=attachment["name"],
        )  # fmt: skip
    return msg


class _GuardedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose socket comes from the host policy (resolve once, check,
    connect to the checked address)."""

    def __init__(self, *args: Any, policy: HostPolicy, **kwargs: Any) -> None:
        self._policy = policy  # before super().__init__, which may connect
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._policy.connect((host, port), timeout, self.source_address)


class _GuardedSMTPSSL(smtplib.SMTP_SSL):
    def __init__(self, *args: Any, policy: HostPolicy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = self._policy.connect((host, port), timeout, self.source_address)
        return self.context.wrap_socket(sock, server_hostname=self._host)  # type: ignore[attr-defined]


def send(msg: EmailMessage, props: Mapping[str, Any], ctx: RunContext) -> None:
    """Deliver ``msg`` to every To and Cc address through the configured server."""
    host = str(props.get("host") or "").strip()
    if not host:
        raise TaskFailed("host is required")
    strategy = str(props.get("transportStrategy") or "SMTPS").upper()
    if strategy not in STRATEGIES:
        raise TaskFailed(f"transportStrategy must be one of {', '.join(STRATEGIES)}")
    port = int(props.get("port") or DEFAULT_PORTS[strategy])
    timeout = float(props.get("sessionTimeout") or 10000) / 1000
    try:
        policy = current_policy()
    except ValueError as exc:
        raise TaskFailed(f"the outbound host policy is misconfigured: {exc}") from None
    recipients = addresses(props.get("to")) + addresses(props.get("cc"))
    where = f"{host}:{port}"
    ctx.logger.debug(f"Sending an e-mail to {len(recipients)} recipient(s) via {where} "
                     f"({strategy})")  # fmt: skip
    context = ssl.create_default_context()
    try:
        if strategy == "SMTPS":
            client: smtplib.SMTP = _GuardedSMTPSSL(
                host, port, timeout=timeout, context=context, policy=policy
            )
        else:
            client = _GuardedSMTP(host, port, timeout=timeout, policy=policy)
        with client:
            if strategy == "SMTP_TLS":
                client.starttls(context=context)
            if props.get("username"):
                client.login(str(props["username"]), str(props.get("password") or ""))
            refused = client.send_message(msg, to_addrs=recipients)
    except DestinationRefused as exc:
        reason = str(exc).replace("HTTP request refused", f"mail server {where} refused", 1)
        raise TaskFailed(reason) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise TaskFailed(f"the mail server {where} refused the login: {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TaskFailed(f"sending the e-mail through {where} failed: {exc}") from None
    if refused:
        ctx.logger.warning(f"The mail server refused {len(refused)} recipient(s): "
                           f"{', '.join(sorted(refused))}")  # fmt: skip
    ctx.logger.info(f"Sent an e-mail to {len(recipients) - len(refused)} recipient(s) via "
                    f"{where}")  # fmt: skip


class MailSend(RunnableTask):
    """Send an e-mail through an SMTP server, with HTML and/or plain text, attachments and
    embedded images from internal storage; outputs nothing."""

    type = "trellis.notifications.mail.MailSend"
    aliases = (f"{_OLD}.MailSend", "org.kestra.task.notifications.mail.MailSend")
    properties: ClassVar = (
        *_SERVER,
        *_HEADERS,
        Prop("htmlTextContent", "string", description="The HTML body."),
        Prop("plainTextContent", "string", description="The plain-text body."),
        *_FILES,
    )
    examples = (
        """id: mail_report
namespace: trellis.examples
tasks:
  - id: send_email
    type: io.kestra.plugin.notifications.mail.MailSend
    host: smtp.example.com
    port: 465
    username: "{{ secret('EMAIL_USERNAME') }}"
    password: "{{ secret('EMAIL_PASSWORD') }}"
    from: robot@example.com
    to: "ops@example.com; oncall@example.com"
    subject: "Flow {{ flow.id }} ran"
    htmlTextContent: "Execution <b>{{ execution.id }}</b> is done."
""",
    )

    #: Returns nothing: its work is the mail sent.
    outputs: ClassVar = ()

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _check_port(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        send(build_message(props, ctx), props, ctx)
        return {}


def _check_port(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    port = props.get("port")
    if isinstance(port, int) and not 0 < port < 65536:
        return [("port", "must be between 1 and 65535")]
    return []


def mail_bodies(summary: Summary) -> tuple[str, str]:
    """(plain text, HTML) of the execution summary mail."""
    rows = [
        ("Namespace", summary.namespace),
        ("Flow", summary.flow_id),
        ("Execution", summary.id),
        ("Status", summary.state),
        ("Duration", summary.duration),
        *((str(k), str(v)) for k, v in summary.custom_fields.items()),
    ]
    plain = [summary.custom_message] if summary.custom_message else []
    plain += [summary.title, summary.outcome, ""]
    plain += [f"{k}: {v}" for k, v in rows]
    if summary.link:
        plain += ["", summary.link]
    e = html.escape
    head = (
        f'<a href="{e(summary.link)}">{e(summary.title)}</a>' if summary.link else e(summary.title)
    )
    body = [f"<p>{e(summary.custom_message)}</p>"] if summary.custom_message else []
    body += [f"<h2>{head}</h2>", f"<p>{e(summary.outcome)}</p>", "<table>"]
    body += [f'<tr><th align="left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in rows]
    body.append("</table>")
    return "\n".join(plain), "\n".join(body)


class MailExecution(RunnableTask):
    """Send an e-mail summing up an execution (namespace, flow, id, state, duration, the
    failed task, a link when ``TRELLIS_URL`` is set)."""

    type = "trellis.notifications.mail.MailExecution"
    aliases = (f"{_OLD}.MailExecution", "org.kestra.task.notifications.mail.MailExecution")
    properties: ClassVar = (*_SERVER, *_HEADERS, *_FILES, *EXECUTION_PROPS)

    #: Returns nothing: its work is the mail sent.
    outputs: ClassVar = ()

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _check_port(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        summary = summarize(props, ctx)
        plain, html_text = mail_bodies(summary)
        subject = props.get("subject") or f"{summary.title}: {summary.outcome}"
        full = {**props, "subject": subject, "plainTextContent": plain,
                "htmlTextContent": html_text}  # fmt: skip
        send(build_message(full, ctx), full, ctx)
        return {}


PLUGINS = [MailSend, MailExecution]
