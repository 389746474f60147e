"""Mail: the transactional outbox, the ``mail.send`` job, the outbox and SMTP transports (against
a small SMTP server run by the test), the development listing and the production checks."""

from __future__ import annotations

import asyncio
import base64
import email
import smtplib
import uuid
from collections.abc import Iterator
from email.message import Message

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from sellerhub.config import Environment, Settings
from sellerhub.db.session import unit_of_work
from sellerhub.jobs import app as jobs
from sellerhub.mail import service
from sellerhub.mail.mailer import (
    Envelope,
    OutboxMailer,
    SmtpMailer,
    current_mailer,
    mailer_for,
    use_mailer,
)
from sellerhub.mail.models import OutboundMail
from sellerhub.runtime import Runtime
from tests.conftest import free_port


class SmtpSink:
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, optional AUTH PLAIN, MAIL, RCPT, DATA,
    RSET, NOOP, QUIT. Records what it received; offers no STARTTLS."""

    def __init__(self, *, auth: bool = False) -> None:
        self.auth_offered = auth
        self.messages: list[Message] = []
        self.recipients: list[str] = []
        self.credentials: list[tuple[str, str]] = []
        self.verbs: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SmtpSink:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(*lines: str) -> None:
            writer.write("".join(line + "\r\n" for line in lines).encode())
            await writer.drain()

        await reply("220 sink ESMTP ready")
        try:
            while raw := await reader.readline():
                line = raw.decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                self.verbs.append(verb)
                if verb in ("EHLO", "HELO"):
                    extensions = ["250-AUTH PLAIN"] if self.auth_offered else []
                    await reply("250-sink", *extensions, "250 8BITMIME")
                elif verb == "AUTH" and self.auth_offered:
                    _, user, password = base64.b64decode(line.split()[2]).split(b"\0")
                    self.credentials.append((user.decode(), password.decode()))
                    await reply("235 2.7.0 accepted")
                elif verb == "RCPT":
                    self.recipients.append(line.split(":", 1)[1].strip(" <>"))
                    await reply("250 ok")
                elif verb in ("MAIL", "RSET", "NOOP"):
                    await reply("250 ok")
                elif verb == "DATA":
                    await reply("354 end with <CRLF>.<CRLF>")
                    data = bytearray()
                    while (chunk := await reader.readline()) != b".\r\n":
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    self.messages.append(email.message_from_bytes(bytes(data)))
                    await reply("250 queued")
                elif verb == "QUIT":
                    await reply("221 bye")
                    break
                else:
                    await reply("502 not implemented")
        finally:
            writer.close()


def _mailer(sink: SmtpSink, **options: object) -> SmtpMailer:
    settings = {"starttls": False, "timeout": 5.0, **options}
    return SmtpMailer(
        host="127.0.0.1",
        port=sink.port,
        sender="Sellerhub <no-reply@mail.example.com>",
        **settings,  # type: ignore[arg-type]
    )


def _envelope(body: str = "Hello.\n.leading dot line\n") -> Envelope:
    return Envelope(mail_id=uuid.uuid4(), to="seller@example.com", subject="Hi there", body=body)


async def test_smtp_mailer_delivers() -> None:
    async with SmtpSink() as sink:
        mail = _envelope()
        await _mailer(sink).deliver(mail)
    assert sink.recipients == ["seller@example.com"]
    [message] = sink.messages
    assert message["Subject"] == "Hi there" and message["To"] == "seller@example.com"
    assert message["From"] == "Sellerhub <no-reply@mail.example.com>"
    assert message["Message-ID"] == f"<{mail.mail_id}@mail.example.com>"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode().replace("\r\n", "\n") == mail.body  # dot-stuffing undone
    assert "AUTH" not in sink.verbs


async def test_smtp_mailer_logs_in() -> None:
    async with SmtpSink(auth=True) as sink:
        await _mailer(sink, username="relay-user", password="relay-pass").deliver(_envelope())
    assert sink.credentials == [("relay-user", "relay-pass")]
    assert len(sink.messages) == 1


async def test_starttls_is_never_skipped() -> None:
    """A server that does not offer STARTTLS gets nothing, rather than a plain-text message."""
    async with SmtpSink() as sink:
        with pytest.raises(smtplib.SMTPNotSupportedError):
            await _mailer(sink, starttls=True).deliver(_envelope())
    assert sink.messages == [] and "MAIL" not in sink.verbs


def test_mailer_choice_and_repr() -> None:
    development = Settings(_env_file=None)
    production = Settings(env=Environment.PRODUCTION, _env_file=None)
    forced = Settings(mail_backend="smtp", smtp_password="pw-secret", _env_file=None)
    assert isinstance(mailer_for(development), OutboxMailer)
    assert isinstance(mailer_for(production), SmtpMailer)
    smtp = mailer_for(forced)
    assert isinstance(smtp, SmtpMailer) and "pw-secret" not in repr(smtp)


def test_production_mail_checks() -> None:
    def problems(**values: object) -> list[str]:
        settings = Settings(env=Environment.PRODUCTION, _env_file=None, **values)  # type: ignore[arg-type]
        return [p for p in settings.problems() if "MAIL" in p or "SMTP" in p]

    assert problems() == []
    assert any("SELLERHUB_MAIL_BACKEND" in p for p in problems(mail_backend="outbox"))
    plaintext = problems(smtp_password="pw", smtp_starttls=False)
    assert len(plaintext) == 1 and "SELLERHUB_SMTP_PASSWORD" in plaintext[0]
    assert problems(smtp_password="pw", smtp_starttls=False, smtp_ssl=True) == []


# --- the queue --------------------------------------------------------------------------------


@pytest.fixture
def mailer_override() -> Iterator[None]:
    yield
    use_mailer(None)


async def _queue(runtime: Runtime, to: str = "seller@example.com") -> uuid.UUID:
    async with unit_of_work(runtime.sessionmaker) as session:
        mail = await service.queue_mail(session, to=to, subject="Subject", body="Body 1")
        return mail.id


async def _mail(runtime: Runtime, mail_id: uuid.UUID) -> OutboundMail:
    async with runtime.sessionmaker() as session:
        mail = await session.get(OutboundMail, mail_id)
        assert mail is not None
        return mail


async def _job_states(runtime: Runtime) -> list[tuple[str, int]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT status::text, attempts FROM procrastinate_jobs "
                "WHERE task_name = 'mail.send' ORDER BY id"
            )
        )
        return [(r[0], r[1]) for r in rows]


async def _run_worker() -> None:
    await jobs.queue_app.run_worker_async(
        wait=False, install_signal_handlers=False, listen_notify=False, concurrency=1
    )


async def test_rolled_back_mail_is_never_queued(runtime: Runtime) -> None:
    async def failing_request() -> None:
        async with unit_of_work(runtime.sessionmaker) as session:
            await service.queue_mail(session, to="x@example.com", subject="s", body="b")
            raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await failing_request()
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM mail_outbox")) == 0
    assert await _job_states(runtime) == []


async def test_send_job_marks_outbox_mail_delivered(runtime: Runtime) -> None:
    assert isinstance(current_mailer(), OutboxMailer)  # development and tests
    mail_id = await _queue(runtime)
    assert (await _mail(runtime, mail_id)).sent_at is None
    assert await _job_states(runtime) == [("todo", 0)]
    await _run_worker()
    assert (await _mail(runtime, mail_id)).sent_at is not None
    assert await _job_states(runtime) == [("succeeded", 1)]


async def test_send_job_through_smtp_once(runtime: Runtime, mailer_override: None) -> None:
    async with SmtpSink() as sink:
        use_mailer(_mailer(sink))
        mail_id = await _queue(runtime)
        await _run_worker()
        assert [m["Subject"] for m in sink.messages] == ["Subject"]
        assert (await _mail(runtime, mail_id)).sent_at is not None
        # At-least-once delivery: the same job again sends nothing more.
        await jobs.queue_app.configure_task("mail.send", queue="mail").defer_async(
            mail_id=str(mail_id)
        )
        await _run_worker()
        assert len(sink.messages) == 1
    assert await _job_states(runtime) == [("succeeded", 1), ("succeeded", 1)]


async def test_failed_delivery_is_recorded_and_retried(
    runtime: Runtime, mailer_override: None
) -> None:
    use_mailer(
        SmtpMailer(host="127.0.0.1", port=free_port(), sender="a@example.com", starttls=False)
    )
    mail_id = await _queue(runtime)
    await _run_worker()
    mail = await _mail(runtime, mail_id)
    assert mail.sent_at is None
    assert mail.last_error is not None and mail.last_error.startswith("ConnectionRefusedError")
    assert await _job_states(runtime) == [("todo", 1)]  # scheduled again, with backoff


# --- development listing ----------------------------------------------------------------------


async def test_dev_mail_listing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await _queue(runtime, "one@example.com")
    second = await _queue(runtime, "two@example.com")
    listing = await client.get("/api/v1/dev/mail")
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert [i["id"] for i in items] == [str(second), str(first)]  # newest first
    assert items[0]["body_text"] == "Body 1" and items[0]["sent_at"] is None
    only = await client.get("/api/v1/dev/mail", params={"to": "ONE@example.com"})
    assert [i["id"] for i in only.json()["items"]] == [str(first)]
    limited = await client.get("/api/v1/dev/mail", params={"limit": 1})
    assert len(limited.json()["items"]) == 1
    assert (await client.get("/api/v1/dev/mail", params={"limit": 0})).status_code == 422

    monkeypatch.setattr(settings, "env", Environment.PRODUCTION)
    hidden = await client.get("/api/v1/dev/mail")
    assert hidden.status_code == 404 and hidden.json()["code"] == "not-found"
    assert "Body 1" not in hidden.text


@pytest.mark.parametrize("peer", ["192.168.1.20", "10.0.0.7", "203.0.113.9", "2001:db8::5"])
async def test_dev_mail_answers_only_to_loopback(app: FastAPI, runtime: Runtime, peer: str) -> None:
    await _queue(runtime, "code@example.com")
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as remote:
        hidden = await remote.get("/api/v1/dev/mail")
    assert hidden.status_code == 404 and "Body" not in hidden.text
    for local in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        transport = httpx.ASGITransport(app=app, client=(local, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/api/v1/dev/mail")).status_code == 200, local
