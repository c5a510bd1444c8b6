"""Secrets at rest (platform tokens, API keys): Fernet encryption with a key derived from the secret key.

Rotation: set CIVICPULSE_SECRET_KEY to the new value and CIVICPULSE_PREVIOUS_SECRET_KEYS to the
old one(s); values encrypted with an old key still decrypt, and `rotate()` re-encrypts them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from civicpulse.config import Settings


class SecretError(RuntimeError):
    pass


def _fernet_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"civicpulse-secrets-v1", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def _box(settings: Settings) -> MultiFernet:
    keys = [settings.secret_key, *settings.previous_secret_keys]
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys if k])


def encrypt(settings: Settings, data: dict[str, Any]) -> str:
    return _box(settings).encrypt(json.dumps(data, ensure_ascii=False).encode()).decode()


def decrypt(settings: Settings, token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_box(settings).decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretError(
            "Stored credentials cannot be decrypted with the current secret key. If the key was changed, "
            "put the old one in CIVICPULSE_PREVIOUS_SECRET_KEYS, or enter the credentials again."
        ) from exc


def rotate(settings: Settings, token: str) -> str:
    return _box(settings).rotate(token.encode()).decode()
