"""Email newsletter — one message per subscriber through SMTP, with one-click unsubscribe.

Each recipient gets their own copy (plain text + HTML alternative, images attached) with
``List-Unsubscribe: <https://…?email=…>, <mailto:…>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058), ``List-Id``, and a ``Message-ID`` derived from the idempotency key and the address, so a
repeated send is recognisable as the same message. All copies go over one SMTP session.

Config keys: ``smtp_host``, ``smtp_port`` (default 587), ``security`` (``starttls`` default, ``ssl`` or
``none``), ``username``, ``password`` (secret), ``from_address`` (required), ``recipients`` (list of
addresses, required), ``unsubscribe_url`` (``{email}`` is replaced by the address, URL-encoded),
``unsubscribe_mailto``, ``list_id``, ``reply_to``, ``timeout`` (seconds, default 30), ``per_minute`` (copies
per minute, default 600: set it to the mail provider's limit).

Errors: authentication refused → auth; connection failures, timeouts and 4xx SMTP replies → transient;
5xx replies → permanent; addresses refused one by one are listed in ``Published.raw["refused"]`` (the
newsletter still counts as sent when at least one copy was accepted). SMTP cannot list what was sent, so
there is no ``lookup``; ``delete`` is impossible (email cannot be recalled).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from civicpulse.connectors._publish import compose_text, publish_error, read_media
from civicpulse.connectors.base import Connector, ConnectorError, Health, Published, PublishRequest, RateLimit
from civicpulse.connectors.http import RateLimiter


def _smtp_error(exc: Exception, host: str) -> ConnectorError:
    where = f"the mail server {host}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return publish_error("auth", f"{where} refused the user name or password. Update them in Settings → "
                             "Channels.", said=_said(exc), status=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        if 400 <= code < 500:
            return publish_error("transient", f"{where} asked us to try again later (code {code}).",
                                 said=_said(exc), status=code)
        return publish_error("permanent", f"{where} refused the newsletter (code {code}).", said=_said(exc),
                             status=code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return publish_error("permanent", f"{where} refused every recipient address.",
                             said="; ".join(f"{a}: {_said(c)}" for a, c in list(exc.recipients.items())[:5]))
    if isinstance(exc, socket.timeout | TimeoutError):
        return publish_error("transient", f"{where} did not answer in time; we will try again.")
    if isinstance(exc, ssl.SSLError):
        return publish_error("permanent", f"The secure connection to {where} failed; check the port and the "
                             "security setting (STARTTLS or SSL).", said=str(exc))
    return publish_error("transient", f"{where} could not be reached; we will try again.", said=str(exc))


def _said(exc: Any) -> str:
    if isinstance(exc, tuple) and len(exc) == 2:
        code, msg = exc
    else:
        code, msg = getattr(exc, "smtp_code", ""), getattr(exc, "smtp_error", exc)
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {text}".strip()


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


class NewsletterConnector(Connector):
    platform: ClassVar[str] = "newsletter"
    service: ClassVar[str] = "The mail server"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(600, 60.0, "600 messages per minute by default; lower it to your mail provider's limit"),
    )

    def __init__(self, config: dict[str, Any], *, http: Any | None = None,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(config, http=http)
        for key in ("smtp_host", "from_address", "recipients"):
            if not config.get(key):
                raise ValueError(f"newsletter connector needs config['{key}']")
        self.host = str(config["smtp_host"])
        self.security = str(config.get("security") or "starttls")
        self.port = int(config.get("smtp_port") or (465 if self.security == "ssl" else 587))
        self.timeout = float(config.get("timeout") or 30)
        per_minute = int(config.get("per_minute") or self.rate_limits[0].calls)
        # never gives up mid-list (max_wait infinite): stopping half-way would mean repeated copies on retry
        self.limiter = RateLimiter([RateLimit(per_minute, 60.0)], clock=clock or time.monotonic,
                                   sleep=sleep or time.sleep, max_wait=float("inf"), service=self.service)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        smtp.ehlo()
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if self.config.get("username"):
            smtp.login(str(self.config["username"]), str(self.config.get("password") or ""))
        return smtp

    def message(self, req: PublishRequest, to: str, files: list[bytes] | None = None) -> EmailMessage:
        """The copy for ``to``; ``files`` are the media bytes (read once for the whole list)."""
        files = files if files is not None else [read_media(m, "the newsletter") for m in req.media]
        text = compose_text(req)
        first_line = text.splitlines()[0] if text else ""
        subject = (req.title or first_line).strip()[:200]
        msg = EmailMessage()
        msg["From"] = str(self.config["from_address"])
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        digest = hashlib.sha256(f"{req.idempotency_key}|{to.lower()}".encode()).hexdigest()[:24]
        domain = str(self.config["from_address"]).rsplit("@", 1)[-1].strip(">") or "civicpulse"
        msg["Message-ID"] = f"<{digest}@{domain}>"
        if self.config.get("reply_to"):
            msg["Reply-To"] = str(self.config["reply_to"])
        if self.config.get("list_id"):
            msg["List-Id"] = str(self.config["list_id"])
        unsub = []
        if self.config.get("unsubscribe_url"):
            unsub.append(f"<{str(self.config['unsubscribe_url']).replace('{email}', quote(to))}>")
        if self.config.get("unsubscribe_mailto"):
            unsub.append(f"<mailto:{self.config['unsubscribe_mailto']}?subject=unsubscribe>")
        if unsub:
            msg["List-Unsubscribe"] = ", ".join(unsub)
            if self.config.get("unsubscribe_url"):
                msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(text)
        body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in req.text.split("\n\n") if p)
        if req.link:
            body += f'<p><a href="{html.escape(req.link, quote=True)}">{html.escape(req.link)}</a></p>'
        title = f"<h1>{html.escape(req.title)}</h1>" if req.title else ""
        lang = f' lang="{html.escape(req.language, quote=True)}"' if req.language else ""
        msg.add_alternative(f"<!doctype html><html{lang}><body>{title}{body}</body></html>", subtype="html")
        for m, data in zip(req.media, files, strict=True):
            maintype, _, subtype = m.mime.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=Path(m.path).name)
        if req.language:  # after the body: set_content() drops Content-* headers
            msg["Content-Language"] = req.language
        return msg

    def publish(self, request: PublishRequest) -> Published:
        """Send one copy per subscriber over one SMTP session, paced by ``per_minute``. If the connection
        drops part-way, it reconnects once and continues with the next address, so a retry of the whole
        send (which would repeat copies) is needed only when the server stays unreachable."""
        recipients = [str(r).strip() for r in self.config["recipients"] if str(r).strip()]
        files = [read_media(m, "the newsletter") for m in request.media]  # a missing file fails before sending
        self.message(request, recipients[0] if recipients else "", files)  # and so does a bad header
        refused: dict[str, str] = {}
        sent = 0
        reconnects = 0
        smtp = self._open()
        try:
            i = 0
            while i < len(recipients):
                to = recipients[i]
                self.limiter.acquire()
                try:
                    bad = smtp.send_message(self.message(request, to, files), to_addrs=[to])
                except smtplib.SMTPRecipientsRefused as exc:
                    refused.update({a: _said(c) for a, c in exc.recipients.items()})
                except smtplib.SMTPResponseException as exc:
                    if not 500 <= exc.smtp_code < 600 or exc.smtp_code in (552, 554):
                        raise _smtp_error(exc, self.host) from exc
                    refused[to] = _said(exc)
                except (OSError, smtplib.SMTPServerDisconnected) as exc:
                    if reconnects >= 1:
                        raise publish_error("transient", f"The mail server {self.host} dropped the connection "
                                            f"after {sent} of {len(recipients)} copies; we will try again.",
                                            said=str(exc)) from exc
                    reconnects += 1
                    _close(smtp)
                    smtp = self._open()
                    continue  # same address again
                else:
                    refused.update({a: _said(c) for a, c in bad.items()})
                    sent += 0 if bad else 1
                i += 1
        finally:
            _close(smtp)
        if sent == 0:
            raise publish_error("permanent", f"The mail server {self.host} refused every recipient address.",
                                said="; ".join(f"{a}: {c}" for a, c in list(refused.items())[:5]))
        key = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]
        return Published(external_id=f"newsletter:{key}", published_at=dt.datetime.now(dt.UTC),
                         raw={"sent": sent, "refused": refused, "recipients": len(recipients),
                              "reconnects": reconnects})

    def _open(self) -> smtplib.SMTP:
        try:
            return self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise _smtp_error(exc, self.host) from exc

    def lookup(self, request: PublishRequest) -> Published | None:
        raise NotImplementedError("email cannot be looked up once sent")

    def delete(self, external_id: str) -> None:
        raise ConnectorError("permanent", "An email newsletter cannot be recalled once it has been sent.")

    def health(self) -> Health:
        now = dt.datetime.now(dt.UTC)
        try:
            smtp = self._connect()
            try:
                code, _ = smtp.noop()
            finally:
                smtp.quit()
        except (OSError, smtplib.SMTPException) as exc:
            err = _smtp_error(exc, self.host)
            return Health(ok=False, message=err.message, checked_at=now,
                          details={"kind": err.kind, "platform_message": err.platform_message})
        return Health(ok=True, message=f"Connected to the mail server {self.host}:{self.port} "
                      f"({len(self.config['recipients'])} subscribers).", checked_at=now, details={"noop": code})
