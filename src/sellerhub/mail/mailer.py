"""Mail transports behind one protocol.

* ``OutboxMailer`` (development and tests): the ``mail_outbox`` row *is* the delivery; it only
  logs ``mail.outbox`` with the recipient and subject — never the body, which may hold a code.
  ``GET /api/v1/dev/mail`` shows the messages.
* ``SmtpMailer`` (production): stdlib ``smtplib`` in a worker thread (``asyncio.to_thread``),
  STARTTLS or implicit TLS with certificate verification, optional login. STARTTLS never
  falls back to plain text: a server that does not offer it fails the delivery.

The ``mail.send`` job uses ``current_mailer()``: the one chosen by the settings, or the one set
with ``use_mailer`` (tests, embedding applications).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol

from sellerhub.config import Environment, Settings, get_settings
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Envelope:
    mail_id: uuid.UUID
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    name: str

    async def deliver(self, mail: Envelope) -> None:
        """Hand the message over; raise when it could not be (the job retries)."""


class OutboxMailer:
    name = "outbox"

    async def deliver(self, mail: Envelope) -> None:
        log.info("mail.outbox", mail_id=str(mail.mail_id), to=mail.to, subject=mail.subject)


class SmtpMailer:
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        use_ssl: bool = False,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout
        self._ssl_context = ssl_context

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            username=settings.smtp_username,
            password=password,
            starttls=settings.smtp_starttls,
            use_ssl=settings.smtp_ssl,
            timeout=settings.smtp_timeout_seconds,
        )

    def __repr__(self) -> str:  # never show the password
        return f"SmtpMailer(host={self.host!r}, port={self.port}, username={self.username!r})"

    def message(self, mail: Envelope) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(utcnow())
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "sellerhub.local"
        # Stable per outbox row: a retried delivery carries the same Message-ID.
        message["Message-ID"] = f"<{mail.mail_id}@{domain}>"
        message.set_content(mail.body)
        return message

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _send(self, mail: Envelope) -> None:
        message = self.message(mail)
        client: smtplib.SMTP
        if self.use_ssl:
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if self.starttls and not self.use_ssl:
                client.starttls(context=self._context())  # raises if not offered
                client.ehlo()
            if self.username:
                client.login(self.username, self._password or "")
            client.send_message(message)

    async def deliver(self, mail: Envelope) -> None:
        await asyncio.to_thread(self._send, mail)
        log.info("mail.sent", mail_id=str(mail.mail_id), transport="smtp")


def transport_of(settings: Settings) -> str:
    """``smtp`` or ``outbox``: ``SELLERHUB_MAIL_BACKEND``, else smtp only in production."""
    if settings.mail_backend is not None:
        return settings.mail_backend
    return "smtp" if settings.env is Environment.PRODUCTION else "outbox"


def mailer_for(settings: Settings) -> Mailer:
    if transport_of(settings) == "smtp":
        return SmtpMailer.from_settings(settings)
    return OutboxMailer()


_override: Mailer | None = None


def use_mailer(mailer: Mailer | None) -> None:
    """Deliver through ``mailer`` from now on (``None``: back to the settings' choice)."""
    global _override
    _override = mailer


def current_mailer() -> Mailer:
    return _override if _override is not None else mailer_for(get_settings())
