"""Auth: API bearer tokens with roles (predict, ingest, operate, admin), stored hashed, and request
authentication."""

from __future__ import annotations

from modelpilot.auth.tokens import Principal, Role, TokenInfo, Tokens, TokenTable, hash_token

__all__ = ["Principal", "Role", "TokenInfo", "TokenTable", "Tokens", "hash_token"]
