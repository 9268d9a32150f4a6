"""Ops API tokens: created by an admin command, stored hashed, scoped read or write."""
