"""Reads of the content area (posts, variants, library, media): see :mod:`civicpulse.domain.publishing.queries`,
which holds the reads of both areas because posts and their variants are always read together."""

from __future__ import annotations

from civicpulse.domain.publishing.queries import library, media, post, posts, variants_of

__all__ = ["library", "media", "post", "posts", "variants_of"]
