"""Mobilytics protocol v1 over MQTT: SPEC.md (the contract), schemas/, vectors/, and the one codec that
cloud, edge agent and firmware share - topics, errors, fields, bodies, codec - in the Python subset that
CPython and MicroPython both run."""
