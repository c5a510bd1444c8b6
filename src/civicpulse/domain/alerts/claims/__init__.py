"""Rumours and claims: the registry of claims with their official corrections, and multilingual claim matching."""
