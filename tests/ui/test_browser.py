"""The issue's done-when, in headless Chromium: sign in, a real edge agent comes online live, dies
(SIGKILL, so the broker publishes its Last Will) and shows offline without a reload, a bad desired
config shows its validation error, and a real deployment (a signed release published and deployed
through the REST API) is paused from the rollouts page, by name, in the database."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import expect
from sqlmodel import Session

from cloud.core.types import utcnow
from cloud.registry import heartbeats
from cloud.rollouts.models import Deployment
from cloud.ui.demo import DemoAgent
from tests.ui.conftest import USER, UiStack, sign_in

DEVICE = "rpi-ui-0001"


async def test_ops_watch_a_device_come_and_go_edit_config_and_pause_a_rollout(
    ui_stack: UiStack, page: Any, tmp_path: Path
) -> None:
    await sign_in(page, ui_stack, "/ui/")
    online = page.locator("[data-count=online]")
    await expect(online).to_have_text("0")
    await page.evaluate("window.__sameDocument = true")

    agent = DemoAgent(DEVICE, tmp_path / "agents", ui_stack.host, ui_stack.port, heartbeat_s=5)
    agent.workdir.mkdir()
    agent.start()
    try:
        # Comes online on the overview without a reload (SSE counts event).
        await expect(online).to_have_text("1", timeout=30_000)
        assert await page.evaluate("window.__sameDocument === true")

        # The agent's first heartbeat is stored as a sample: the device page draws lag and health.
        for _ in range(100):
            with Session(ui_stack.engine) as s:
                if heartbeats.history(s, DEVICE, since=utcnow() - timedelta(hours=1)):
                    break
            await asyncio.sleep(0.1)
        await page.goto(ui_stack.url(f"/ui/devices/{DEVICE}"))
        charts = page.locator("#heartbeat-history svg.chart")
        await expect(charts).to_have_count(7)
        lag = page.locator("#heartbeat-history svg[aria-label^='heartbeat lag']")
        await expect(lag).to_be_visible()
        assert int(await lag.locator("polyline").get_attribute("data-points") or 0) >= 1
        assert (await lag.bounding_box() or {}).get("height", 0) > 50  # drawn, not collapsed
        badge = page.locator(f"header.device-head [data-device-status='{DEVICE}']")
        await expect(badge).to_have_text("online")
        await expect(page.locator("#live-indicator")).to_have_class("live on")
        await page.evaluate("window.__sameDocument = true")

        agent.kill()  # SIGKILL: the broker sends the Last Will
        await expect(badge).to_have_text("offline", timeout=15_000)
        await expect(badge).to_have_class(re.compile(r"\bs-offline\b"))
        await expect(page.locator(f"[data-device-reason='{DEVICE}']")).to_have_text("lwt")
        assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
    finally:
        agent.stop()

    # Desired config: a value below the schema's minimum is refused with the field named.
    await page.fill("textarea#desired", '{"heartbeat_s": 2}')
    await page.click(".config-form button[type=submit]")
    error = page.locator(".config-error")
    await expect(error).to_contain_text("heartbeat_s")
    await expect(error).to_contain_text("less than the minimum of 5")
    await expect(page.locator("textarea#desired")).to_have_value('{"heartbeat_s": 2}')
    await page.fill("textarea#desired", '{"heartbeat_s": 30, "rssi_floor": -90}')
    await page.click(".config-form button[type=submit]")
    await expect(page.locator("[role=status]")).to_contain_text("Desired config v1 saved")

    # Rollouts: a real deployment of a signed release to this device, paused from its page.
    deployment = await ui_stack.deploy(DEVICE, name="agent-v2")
    await page.goto(ui_stack.url("/ui/rollouts"))
    rollout = page.locator(f"[data-rollout='{deployment}']")
    await expect(rollout.locator("[data-rollout-state]")).to_have_text("running")
    await expect(rollout.get_by_role("button", name="Resume")).to_be_disabled()
    await rollout.get_by_role("button", name="Pause").click()
    await expect(page.locator("[role=status]")).to_contain_text(f"{deployment} is paused")
    rollout = page.locator(f"[data-rollout='{deployment}']")
    await expect(rollout.locator("[data-rollout-state]")).to_have_text("paused")
    await expect(rollout.get_by_role("button", name="Pause")).to_be_disabled()
    await expect(rollout.get_by_role("button", name="Resume")).to_be_enabled()
    with Session(ui_stack.engine) as s:
        d = s.get(Deployment, deployment)
        assert d is not None
        assert (d.state, d.state_reason) == ("paused", f"paused by {USER}")
