"""Typed values for a settings dataclass from MOBILYTICS_<FIELD> environment variables.

Every settings object of the cloud (core, billing, exports, BlueZoo) reads the environment the same
way, so one variable naming rule and one error for a malformed number hold everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from cloud.exceptions import SettingsError

PREFIX = "MOBILYTICS_"


def env_values(cls: type[Any], env: Mapping[str, str]) -> dict[str, object]:
    """The fields of dataclass ``cls`` that ``env`` sets, converted to the field's int or float type."""
    values: dict[str, object] = {}
    for f in fields(cls):
        name = PREFIX + f.name.upper()
        raw = env.get(name)
        if raw is None:
            continue
        if f.type in ("int", "float"):
            try:
                values[f.name] = int(raw) if f.type == "int" else float(raw)
            except ValueError:
                raise SettingsError(name, raw, f"expected an {f.type}") from None
        else:
            values[f.name] = raw
    return values
