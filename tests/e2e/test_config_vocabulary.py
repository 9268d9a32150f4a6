"""The cloud's desired-config schema speaks the devices' vocabulary (protocol/SPEC.md 5.4 leaves the
keys to the firmware and the agent): every key it accepts is one the device applies, in a range the
device accepts too. Otherwise an operator's 200 is a config the agent rejects or the firmware ignores.
"""

from __future__ import annotations

import ast
import dataclasses

from cloud.shadow.schemas import schema_for
from edge_agent.config import Tunables
from firmware.host.paths import SRC


def firmware_schema() -> dict[str, tuple[int, int]]:
    """key -> (min, max) of firmware/src/shadow.py's SCHEMA, read without running MicroPython code."""
    tree = ast.parse((SRC / "shadow.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SCHEMA":
            table = ast.literal_eval(node.value)
            return {k: (lo, hi) for k, (lo, hi, _default) in table.items()}
    raise AssertionError("firmware/src/shadow.py has no SCHEMA")


def agent_schema() -> dict[str, tuple[int, int]]:
    return {f.name: f.metadata["range"] for f in dataclasses.fields(Tunables)}


def cloud_ranges(hardware: str) -> dict[str, tuple[int, int]]:
    props = schema_for(hardware)["properties"]
    assert all(p["type"] == "integer" for p in props.values())
    return {k: (p["minimum"], p["maximum"]) for k, p in props.items()}


def test_every_key_the_cloud_accepts_is_one_the_device_applies_within_its_range() -> None:
    for hardware, device in (("esp32", firmware_schema()), ("rpi", agent_schema())):
        cloud = cloud_ranges(hardware)
        assert set(cloud) <= set(device), f"{hardware}: the device does not know {set(cloud) - set(device)}"
        for key, (lo, hi) in cloud.items():
            dlo, dhi = device[key]
            assert dlo <= lo <= hi <= dhi, f"{hardware}.{key}: cloud {lo}..{hi}, device {dlo}..{dhi}"


def test_the_device_tunables_an_operator_needs_are_settable() -> None:
    assert set(firmware_schema()) == set(cloud_ranges("esp32"))
    assert set(agent_schema()) == set(cloud_ranges("rpi"))
