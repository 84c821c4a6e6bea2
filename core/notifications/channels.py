"""Delivery channels: the `NotificationChannel` protocol and the three built into core.

`sms` hands the text to an `SmsProvider` (config `SMS_PROVIDER`: `log`, the default, writes it to
the application log, the outbox row being the record; or `package.module:factory`, called with
the app config, for a real gateway). `email` speaks SMTP through `smtplib`. `inbox` writes an
`InboxMessage` row in the delivery transaction, so it is delivered exactly once.

Plugins add channels through the `notification_channels` hook; a code can be claimed only once.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.orm import object_session

from core import masking
from core.notifications.models import InboxMessage, OutboxMessage
from core.plugins import PluginError

if TYPE_CHECKING:
    import pluggy

    from core.identity.models import User

_CHANNEL_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")
log = logging.getLogger("core.notifications")
sms_log = logging.getLogger("core.notifications.sms")


class DeliveryError(Exception):
    """The provider could not take the message now (down, timeout, 4xx): try again later."""


class PermanentDeliveryError(DeliveryError):
    """The provider refused the message for good (no address, 5xx recipient): mark it dead."""


@runtime_checkable
class NotificationChannel(Protocol):
    """A way to reach a user. `send` raises `DeliveryError` for a failure worth retrying.

    A channel that needs an address may also define `address_for(user) -> str | None`, called at
    queue time (a user without one gets a dead row, visible to operators, instead of a silent
    drop); one that can be switched off may define `configured: bool` (False: skipped at queue
    time with a warning). Database writes a channel makes through `object_session(message)`
    commit together with the row's `sent` status.
    """

    code: str

    def send(self, message: OutboxMessage) -> None: ...


def delivery_id(message: OutboxMessage) -> str:
    """A stable id for the provider (SMTP Message-ID, SMS request id) so it can deduplicate a
    message the outbox handed over twice after a lost lease."""
    digest = hashlib.sha256(message.dedupe_key.encode()).hexdigest()[:12]
    return f"qi-outbox-{message.id}-{digest}"


def mask_phone(phone: str | None) -> str:
    """138****8000 (`core.masking`): logs need to tell messages apart, not to hold the number."""
    return masking.mask_phone(phone) or "-"


# ---------------------------------------------------------------- SMS


class SmsProvider(Protocol):
    """An SMS gateway. Raise `DeliveryError` when it is unreachable or says "later"."""

    def send_sms(self, phone: str, text: str, *, request_id: str) -> None: ...


class LogSmsProvider:
    """The default provider: the text goes to the application log (the outbox row is the record)."""

    def send_sms(self, phone: str, text: str, *, request_id: str) -> None:
        sms_log.info("SMS to %s [%s]: %s", mask_phone(phone), request_id, text)


def load_sms_provider(config: Mapping[str, Any]) -> SmsProvider:
    """`SMS_PROVIDER`: `log`, or `package.module:factory` called with the app config."""
    name = str(config.get("SMS_PROVIDER") or "log")
    if name == "log":
        return LogSmsProvider()
    module_name, _, attr = name.partition(":")
    if not attr:
        raise PluginError(f"SMS_PROVIDER must be 'log' or 'package.module:factory', got {name!r}")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(config)


class SmsChannel:
    code = "sms"

    def __init__(self, provider: SmsProvider):
        self.provider = provider

    def address_for(self, user: User) -> str | None:
        return user.phone

    def send(self, message: OutboxMessage) -> None:
        if not message.address:
            raise PermanentDeliveryError("no phone number")
        self.provider.send_sms(message.address, message.body, request_id=delivery_id(message))


# ---------------------------------------------------------------- e-mail


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailChannel:
    """SMTP with `SMTP_HOST`, `SMTP_PORT`, `SMTP_USER`, `SMTP_PASSWORD`, `SMTP_FROM`,
    `SMTP_STARTTLS`, `SMTP_TIMEOUT`. With no `SMTP_HOST`, e-mail is off (skipped at queue time)."""

    code = "email"

    def __init__(self, config: Mapping[str, Any]):
        self.host = str(config.get("SMTP_HOST") or "")
        self.port = int(config.get("SMTP_PORT") or 25)
        self.user = str(config.get("SMTP_USER") or "")
        self.password = str(config.get("SMTP_PASSWORD") or "")
        self.sender = str(config.get("SMTP_FROM") or "noreply@localhost")
        self.starttls = bool(config.get("SMTP_STARTTLS"))
        self.timeout = float(config.get("SMTP_TIMEOUT") or 30)
        self.platform_name = str(config.get("QI_PLATFORM_NAME") or "")

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def address_for(self, user: User) -> str | None:
        return user.email

    def build(self, message: OutboxMessage) -> EmailMessage:
        """The MIME message: UTF-8 text, RFC 2047 Chinese subject, Message-ID from the outbox id."""
        name, sender = parseaddr(self.sender)
        domain = sender.rpartition("@")[2] or "localhost"
        email = EmailMessage()
        email["From"] = formataddr((name or self.platform_name, sender))
        email["To"] = message.address or ""
        email["Subject"] = message.subject
        email["Message-ID"] = f"<{delivery_id(message)}@{domain}>"
        email.set_content(message.body, charset="utf-8")
        return email

    def send(self, message: OutboxMessage) -> None:
        if not message.address:
            raise PermanentDeliveryError("no e-mail address")
        if not self.configured:
            raise DeliveryError("SMTP_HOST is not set")
        if self.user and not self.starttls and not _is_loopback(self.host):
            # Never send a password in clear over the network; the message waits for the fix.
            raise DeliveryError("SMTP_USER set without SMTP_STARTTLS: refusing a clear-text login")
        email = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused: {codes}") from exc
            raise DeliveryError(f"recipient deferred: {codes}") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, 4xx, disconnects
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------- in-app inbox


class InboxChannel:
    code = "inbox"

    def send(self, message: OutboxMessage) -> None:
        session = object_session(message)
        if session is None or message.recipient_user_id is None:
            raise PermanentDeliveryError("no recipient for the inbox")
        session.add(InboxMessage(user_id=message.recipient_user_id, title=message.subject,
                                 body=message.body, link=message.link, outbox_id=message.id))


# ---------------------------------------------------------------- registry


def builtin_channels(config: Mapping[str, Any]) -> dict[str, NotificationChannel]:
    """The channels core registers itself (no plugin needed)."""
    return {
        "sms": SmsChannel(load_sms_provider(config)),
        "email": EmailChannel(config),
        "inbox": InboxChannel(),
    }


def collect_channels(pm: pluggy.PluginManager, config: Mapping[str, Any]) -> dict[str, NotificationChannel]:
    """Core's channels plus every plugin's, by code; a second claim on a code is refused."""
    found = builtin_channels(config)
    for batch in pm.hook.notification_channels():
        for channel in batch or ():
            code = getattr(channel, "code", None)
            if not isinstance(code, str) or not _CHANNEL_CODE.fullmatch(code) \
                    or not callable(getattr(channel, "send", None)):
                raise PluginError(f"not a notification channel (code [a-z][a-z0-9_]*, send): {channel!r}")
            if code in found:
                raise PluginError(f"two channels claim the notification channel code {code!r}")
            found[code] = channel
    return found
