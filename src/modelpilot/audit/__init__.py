"""Audit: the append-only, hash-chained record of every change and decision, and its verifier."""

from __future__ import annotations

from modelpilot.audit.chain import GENESIS, AuditEntry, VerifyReport, canonical_json, verify_chain
from modelpilot.audit.log import AuditLog

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "VerifyReport", "canonical_json", "verify_chain"]
