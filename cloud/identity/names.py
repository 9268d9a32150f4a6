"""MQTT identities: devices and services, kept apart by syntax.

A device's identity (certificate CN, MQTT username, client id) is its device id, syntax
``[a-z0-9][a-z0-9-]{2,62}`` (protocol/topics.py). A service identity contains a ``.``, which no device
id can, so no device can ever be registered, or issued a certificate, under a service's name.
"""

from __future__ import annotations

CLOUD = "mobilytics.cloud"  # the control plane's own MQTT identity: may read and write every topic


def is_service(name: str) -> bool:
    return "." in name
