"""Audit trail: `record_audit` is the one way every state change is written down."""

from core.audit.service import SYSTEM, record_audit, sanitize_text

__all__ = ["SYSTEM", "record_audit", "sanitize_text"]
