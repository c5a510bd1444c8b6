"""Outgoing email through the configured SMTP server; printed to the log in dev without one."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import structlog

from civicpulse.config import Settings

log = structlog.get_logger("civicpulse.mail")


class MailError(RuntimeError):
    pass


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    if not settings.smtp_host:
        if settings.env == "production":
            raise MailError("No SMTP server is configured (set CIVICPULSE_SMTP_HOST); the email was not sent")
        log.warning("email not sent (no CIVICPULSE_SMTP_HOST); printing it instead", to=to, subject=subject, body=body)
        return
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"Could not send email through {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc
