"""Firmware tests. tests/firmware/mp/ holds MicroPython code, run by test_micropython_units.py."""

collect_ignore = ["mp"]
