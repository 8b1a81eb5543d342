"""Moderation: reports, hiding, suspension, roles and the audit log."""
