"""Presence: online, offline or sleeping, derived from evidence by a written rule (RULES.md)."""
