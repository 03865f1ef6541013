"""Sending one alert through one channel: a webhook (generic JSON, Slack, Microsoft Teams)
or email over SMTP, retried with exponential backoff.

Webhook URLs carry their tokens and SMTP servers want passwords, so both are read
from the environment (`env:NAME`) only when an alert is sent, and every error text is
scrubbed of them before it is recorded.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from adapters.secrets import Secrets
from tallyclerk.errors import ConfigError

log = logging.getLogger(__name__)

EnvReference = Annotated[str, Field(pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Strict):
    """A URL that takes a POSTed JSON body: `webhook` (our own payload), `slack` or `teams`."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["webhook", "slack", "teams"]
    url: EnvReference


class EmailChannel(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    username: str | None = None
    password: EnvReference | None = None
    starttls: bool = True


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="kind")]


@dataclass(frozen=True)
class Message:
    """What an alert says, before a channel shapes it."""

    title: str
    lines: tuple[str, ...]
    # The generic webhook's JSON body.
    data: dict


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    error: str | None


class _Permanent(Exception):
    """A refusal that trying again will not change (a 4xx other than 429)."""


def body_for(kind: str, message: Message) -> dict:
    """The JSON body a webhook of `kind` accepts: Slack's `text` with mrkdwn blocks, a
    Teams message with an Adaptive Card attachment, or the generic event."""
    if kind == "slack":
        text = "\n".join((f"*{message.title}*", *message.lines))
        return {
            "text": message.title,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }
    if kind == "teams":
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": message.title, "weight": "Bolder", "wrap": True},
                *({"type": "TextBlock", "text": line, "wrap": True} for line in message.lines),
            ],
        }
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
    return message.data


def deliver(
    channel: WebhookChannel | EmailChannel,
    message: Message,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    secrets: Secrets | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send once, and again up to `retries` times, waiting `backoff`, twice that, ..."""
    secrets = secrets or Secrets()
    where = f"alerts.channels ({channel.name})"
    try:
        send = _sender(channel, message, secrets, where, timeout)
    except ConfigError as exc:
        return Outcome(False, 0, str(exc))
    attempts, error = 0, None
    for attempt in range(retries + 1):
        attempts = attempt + 1
        try:
            send()
            return Outcome(True, attempts, None)
        except _Permanent as exc:
            return Outcome(False, attempts, secrets.redact(str(exc)))
        except (httpx.HTTPError, OSError, smtplib.SMTPException, _Retry) as exc:
            text = str(exc) if isinstance(exc, _Retry) else f"{type(exc).__name__}: {exc}"
            error = secrets.redact(text)
            log.warning("alert to %s failed (attempt %d): %s", channel.name, attempts, error)
        if attempt < retries:
            sleep(backoff * 2**attempt)
    return Outcome(False, attempts, error)


class _Retry(Exception):
    """A refusal worth trying again: a 5xx, or 429 Too Many Requests."""


def _sender(
    channel: WebhookChannel | EmailChannel,
    message: Message,
    secrets: Secrets,
    where: str,
    timeout: float,
) -> Callable[[], None]:
    if isinstance(channel, EmailChannel):
        password = (
            secrets.resolve(channel.password, where=f"{where}.password")
            if channel.password
            else None
        )
        return lambda: _send_email(channel, message, password, timeout)
    url = secrets.resolve(channel.url, where=f"{where}.url")
    body = body_for(channel.kind, message)
    return lambda: _post(url, body, timeout)


def _post(url: str, body: dict, timeout: float) -> None:
    response = httpx.post(url, json=body, timeout=timeout)
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retry(f"HTTP {response.status_code} from the webhook")
    if response.status_code >= 400:
        raise _Permanent(
            f"HTTP {response.status_code} from the webhook: {response.text[:200]}; "
            "check the webhook URL and the payload kind of the channel."
        )


def _send_email(
    channel: EmailChannel, message: Message, password: str | None, timeout: float
) -> None:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail.set_content("\n".join(message.lines) + "\n")
    with smtplib.SMTP(channel.host, channel.port, timeout=timeout) as smtp:
        if channel.starttls:
            smtp.starttls()
        if channel.username and password:
            smtp.login(channel.username, password)
        smtp.send_message(mail)
