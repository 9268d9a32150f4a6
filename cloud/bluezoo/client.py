"""The HTTP seam to BlueZoo: one page per call, with retries; httpx is translated here.

Backoff: a 429 waits what `Retry-After` says (seconds or an HTTP date; capped), otherwise
jittered exponential (0.5 s doubling, capped at `backoff_cap_s`); 5xx and connection errors
take the jittered exponential. After `max_attempts` the page fails with BlueZooUnavailableError;
the cursor was not advanced, so the next run starts from the same page.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from cloud.bluezoo import format as fmt
from cloud.bluezoo.config import BlueZooSettings
from cloud.bluezoo.exceptions import BlueZooAuthError, BlueZooFormatError, BlueZooUnavailableError


def retry_after_s(value: str | None, *, now: datetime, cap: float) -> float | None:
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(cap, max(0.0, (when - now).total_seconds()))


def backoff_s(attempt: int, cap: float) -> float:
    return random.uniform(0.5, 1.0) * min(cap, 0.5 * 2**attempt)


class BlueZooClient:
    def __init__(
        self,
        settings: BlueZooSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.waits: list[tuple[int, float]] = []  # (status or 0, seconds): what backoff did, for logs/tests
        self._http = httpx.AsyncClient(
            base_url=settings.bluezoo_base_url,
            headers={"Authorization": f"Bearer {settings.bluezoo_api_key}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            transport=transport,
        )

    async def __aenter__(self) -> BlueZooClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def page(self, cursor: str | None) -> fmt.Page:
        s = self.settings
        params = fmt.query(limit=s.bluezoo_page_size, cursor=cursor)
        url = f"{s.bluezoo_base_url}{fmt.PATH}"
        reason = ""
        for attempt in range(s.bluezoo_max_attempts):
            status = 0
            try:
                r = await self._http.get(fmt.PATH, params=params)
                status = r.status_code
            except httpx.TransportError as e:
                reason = f"{type(e).__name__}: {e}"
                wait = backoff_s(attempt, s.bluezoo_backoff_cap_s)
            else:
                if status == 200:
                    try:
                        body = r.json()
                    except ValueError as e:
                        raise BlueZooFormatError(url=url, reason=f"not JSON: {e}") from e
                    return fmt.page(body, url=url)
                if status in (401, 403):
                    raise BlueZooAuthError(url=url, status=status)
                if status != 429 and status < 500:
                    raise BlueZooFormatError(url=url, reason=f"unexpected HTTP {status}: {r.text[:200]}")
                reason = f"HTTP {status}"
                told = retry_after_s(
                    r.headers.get("retry-after"), now=datetime.now(UTC), cap=s.bluezoo_backoff_cap_s
                )
                wait = told if told is not None else backoff_s(attempt, s.bluezoo_backoff_cap_s)
            if attempt + 1 < s.bluezoo_max_attempts:
                self.waits.append((status, wait))
                await self.sleep(wait)
        raise BlueZooUnavailableError(url=url, reason=reason, attempts=s.bluezoo_max_attempts)
