"""Exceptions of the NLP layer."""

from __future__ import annotations


class NLPError(Exception):
    """Base class for civicpulse.nlp errors."""


class ModelFileError(NLPError):
    """A model file is missing, unreadable or corrupted. The message names the file path."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"model file {self.path!s}: {reason}")


class SettingError(NLPError, ValueError):
    """An NLP setting from the environment (e.g. ``CIVICPULSE_E5_KERNEL``) cannot be used; the message
    names the variable and what it accepts."""
