"""Metrics and dashboards."""
