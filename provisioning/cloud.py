"""The CLI's two calls to the cloud: claim with the enrollment token; wait for the first heartbeat.

The HTTP client is passed in (an ``httpx.Client``), so tests point it at a real API on loopback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from provisioning.exceptions import CloudError, EnrollmentRefused


@dataclass(frozen=True)
class Registration:
    device_id: str
    certificate: str
    ca: str
    broker: dict[str, Any]
    username: str
    password: str
    tenant: str | None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Registration:
        return cls(
            device_id=doc["device_id"],
            certificate=doc["certificate"],
            ca=doc["ca"],
            broker=doc["broker"],
            username=doc["username"],
            password=doc["password"],
            tenant=doc.get("tenant"),
        )


def _detail(resp: httpx.Response) -> tuple[str | None, str]:
    try:
        detail = resp.json().get("detail")
    except ValueError:
        return None, resp.text[:200]
    if isinstance(detail, dict):
        return detail.get("reason"), str(detail.get("message", detail))
    return None, str(detail)


def register(
    client: httpx.Client, *, token: str, device_id: str, hardware: str, csr_pem: str
) -> Registration:
    try:
        resp = client.post(
            "/devices/register",
            json={"token": token, "device_id": device_id, "hardware": hardware, "csr": csr_pem},
        )
    except httpx.HTTPError as e:
        raise CloudError(
            f"cannot reach the cloud at {client.base_url}: {e}", hint="check the network and --api"
        ) from e
    if resp.status_code in (401, 403, 410):
        reason, message = _detail(resp)
        raise EnrollmentRefused(
            f"enrollment token refused ({reason}): {message}", status=resp.status_code, reason=reason
        )
    if resp.status_code >= 400:
        reason, message = _detail(resp)
        raise CloudError(
            f"registration failed (HTTP {resp.status_code}): {message}",
            status=resp.status_code,
            reason=reason,
        )
    return Registration.from_json(resp.json())


def wait_heartbeat(
    client: httpx.Client, *, device_id: str, timeout: float, interval: float = 1.0, clock=time.monotonic
) -> dict[str, Any]:
    """The device's record once the cloud has seen a heartbeat from it; CloudError after ``timeout``."""
    deadline = clock() + timeout
    last: dict[str, Any] = {}
    while True:
        try:
            resp = client.get(f"/devices/{device_id}")
        except httpx.HTTPError as e:
            raise CloudError(f"cannot reach the cloud at {client.base_url}: {e}") from e
        if resp.status_code == 200:
            last = resp.json()
            if last.get("last_heartbeat_at") or last.get("heartbeats", 0) > 0:
                return last
        elif resp.status_code != 404:
            raise CloudError(
                f"GET /devices/{device_id}: HTTP {resp.status_code} {resp.text[:200]}",
                status=resp.status_code,
            )
        if clock() >= deadline:
            status = last.get("status", "not registered")
            raise CloudError(
                f"no heartbeat from {device_id} within {timeout:.0f}s (status: {status})",
                hint="check the device's power, WiFi and broker settings, then run `check` again",
            )
        time.sleep(interval)
