"""Telemetry ingest: exactly-once batches, gaps, completeness, dead letters."""
