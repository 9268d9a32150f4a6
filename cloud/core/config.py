"""Typed settings, read from the environment at the process edge only.

Every field has a default that gives the newcomer's single-process stack: embedded amqtt broker,
SQLite file, API on 127.0.0.1:8000. `MOBILYTICS_BROKER` and `MOBILYTICS_DB` point the cloud at
an external Mosquitto and PostgreSQL instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

from cloud.exceptions import SettingsError

DEFAULT_DB = "sqlite:///var/mobilytics.sqlite3"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # None: run the embedded amqtt broker on mqtt_host:mqtt_port.
    broker: str | None = None
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    db: str = DEFAULT_DB
    simulate: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: object) -> Settings:
        """Settings from MOBILYTICS_<FIELD> variables, then explicit overrides (CLI flags)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"MOBILYTICS_{f.name.upper()}")
            if raw is None:
                continue
            if f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise SettingsError(f"MOBILYTICS_{f.name.upper()}", raw, "expected an integer") from None
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = replace(cls(), **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.broker is not None:
            parts = urlsplit(self.broker)
            if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
                raise SettingsError("broker", self.broker, "expected mqtt://host:port or mqtts://host:port")
        if not self.db.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise SettingsError("db", self.db, "expected sqlite:///PATH or postgresql://...")
        for name in ("api_port", "mqtt_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(name, str(port), "a port is 0..65535")

    @property
    def embedded_broker(self) -> bool:
        return self.broker is None

    @property
    def broker_host_port(self) -> tuple[str, int, bool]:
        """(host, port, tls) of the broker the bridge connects to."""
        if self.broker is None:
            return self.mqtt_host, self.mqtt_port, False
        parts = urlsplit(self.broker)
        tls = parts.scheme == "mqtts"
        return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls
