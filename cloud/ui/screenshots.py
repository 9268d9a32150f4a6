"""Screenshots of the ops pages, for reviewers: `python -m cloud.ui.screenshots OUTDIR`.

By default it runs a throw-away demo in this process: the embedded amqtt broker, a SQLite file in
a temporary directory, the bridge and the app, four real edge agents (simulate source, a truck
route through Brno) plus three simulated ESP32/Pi devices from `cloud/demo/fleet.py`. After ~30 s
of traffic one agent is SIGKILLed (Last Will) and one stopped cleanly, and two real deployments of
releases signed with a throw-away key (`cloud/ui/demo.py` `DemoRollouts`) go to the trucks through
the REST API, one paused, so the pages show every status. Then headless Chromium (Debian's
`/usr/bin/chromium`; `--chromium PATH` to change) signs in and writes PNGs:

    01-login.png 02-overview.png 03-devices.png 04-device.png 05-device-config-error.png
    06-rollouts.png 07-map.png

`--url http://host:8000 --user NAME` photographs a running deployment instead (password from
`MOBILYTICS_UI_PASSWORD` or a prompt).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import random
import tempfile
from datetime import timedelta
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_USER, DEMO_PASSWORD = "ops-demo", "demo-password-1"


async def shoot(
    base_url: str, user: str, password: str, out: Path, *, chromium: str, device: str | None
) -> list[Path]:
    from playwright.async_api import async_playwright

    written: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()

        async def snap(name: str) -> None:
            await page.wait_for_timeout(600)
            path = out / name
            await page.screenshot(path=str(path), full_page=True)
            written.append(path)

        await page.goto(f"{base_url}/ui/login")
        await snap("01-login.png")
        await page.fill("input[name=username]", user)
        await page.fill("input[name=password]", password)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base_url}/ui/")
        await snap("02-overview.png")
        await page.goto(f"{base_url}/ui/devices?sort=status")
        await snap("03-devices.png")
        if device is None:
            first = page.locator("table.devices tbody a").first
            device = (await first.text_content() or "").strip() if await first.count() else None
        if device:
            await page.goto(f"{base_url}/ui/devices/{device}")
            await snap("04-device.png")
            await page.fill("textarea#desired", '{\n  "heartbeat_s": 2,\n  "rssi_floor": -90\n}')
            await page.click(".config-form button[type=submit]")
            await page.locator("#config").scroll_into_view_if_needed()
            await snap("05-device-config-error.png")
        await page.goto(f"{base_url}/ui/rollouts")
        await snap("06-rollouts.png")
        await page.goto(f"{base_url}/ui/map")
        await snap("07-map.png")
        await browser.close()
    return written


async def demo(out: Path, *, chromium: str, warmup_s: float) -> list[Path]:
    import uvicorn
    from sqlmodel import Session

    from cloud.api.app import create_app
    from cloud.auth.models import Scope
    from cloud.auth.service import create_token
    from cloud.auth.users import create_user
    from cloud.bridge.service import Bridge, BridgeConfig
    from cloud.broker.embedded import embedded_broker
    from cloud.broker.ports import free_port
    from cloud.campaigns.models import Asset, AssetKind, DeviceHistory
    from cloud.core.config import Settings
    from cloud.core.db import make_engine, migrate
    from cloud.core.types import utcnow
    from cloud.demo.fleet import run_fleet
    from cloud.registry.models import Device
    from cloud.rollouts import service as rollouts
    from cloud.ui.demo import DemoAgent, DemoRollouts

    work = Path(tempfile.mkdtemp(prefix="mobilytics-screens-"))
    db = f"sqlite:///{work / 'demo.sqlite3'}"
    mqtt_port, api_port = free_port(), free_port()
    engine = make_engine(db)
    migrate(engine)
    with Session(engine) as s:
        create_user(s, username=DEMO_USER, password=DEMO_PASSWORD, now=utcnow())
        _, token = create_token(s, name="screenshots", scope=Scope.WRITE, now=utcnow())
        s.commit()
    signer = DemoRollouts.generate()
    (work / "ota-root.json").write_bytes(signer.root_document)
    base_url = f"http://127.0.0.1:{api_port}"
    settings = Settings(
        db=db,
        mqtt_port=mqtt_port,
        api_port=api_port,
        releases=str(work / "releases"),
        ota_root=str(work / "ota-root.json"),
        public_url=base_url,
    )
    app = create_app(engine, settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=api_port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    bridge = Bridge(engine, BridgeConfig.from_settings(settings))
    agents = [
        DemoAgent(f"rpi-truck-{i + 1:02d}", work, "127.0.0.1", mqtt_port, seed=i + 1, speed=speed)
        for i, speed in enumerate((1.0, 6.0, 12.0, 20.0))
    ]
    async with embedded_broker("127.0.0.1", mqtt_port), asyncio.TaskGroup() as tg:
        bridge_task = tg.create_task(bridge.run(), name="screens.bridge")
        api_task = tg.create_task(server.serve(), name="screens.api")
        await bridge.ready.wait()
        fleet = tg.create_task(
            run_fleet(3, "127.0.0.1", mqtt_port, seed=random.randrange(1000)), name="fleet"
        )
        try:
            for a in agents:
                a.start()
            await asyncio.sleep(warmup_s)
            with Session(engine) as s:  # three trucks; each agent's sensor is mounted on one of them
                now = utcnow()
                for n in (1, 2, 3):
                    s.add(Asset(id=f"truck-{n}", name=f"Truck {n}", kind=AssetKind.VEHICLE, created_at=now))
                s.flush()
                for i, a in enumerate(agents):
                    d = s.get(Device, a.device_id)
                    if d is not None:
                        d.labels = {"city": "brno"}
                        d.tenant = "media-op-1"
                        s.add(d)
                        truck = f"truck-{i % 3 + 1}"
                        s.add(
                            DeviceHistory(device_id=d.id, asset_id=truck, mounted_at=now - timedelta(days=1))
                        )
                s.commit()
            agents[3].kill()  # Last Will: offline (lwt)
            agents[2].stop()  # SIGTERM: offline (clean-disconnect)
            trucks = [a.device_id for a in agents]
            paused = await signer.deploy(base_url, token, trucks, name="agent-v2", version=2, waves=[50, 100])
            with Session(engine) as s:
                rollouts.control(s, paused, "pause", now=utcnow(), actor=DEMO_USER)
                s.commit()
            await signer.deploy(base_url, token, trucks[:2], name="agent-v3", version=3, waves=[100])
            await asyncio.sleep(2)
            return await shoot(
                base_url,
                DEMO_USER,
                DEMO_PASSWORD,
                out,
                chromium=chromium,
                device=agents[0].device_id,
            )
        finally:
            for a in agents:
                a.stop()
            fleet.cancel()
            server.should_exit = True
            bridge.stop()
            await api_task
            await bridge_task
            engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cloud.ui.screenshots", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--url", help="photograph a running deployment instead of a throw-away demo")
    parser.add_argument("--user", default=os.environ.get("MOBILYTICS_UI_USER"))
    parser.add_argument("--device", help="the device whose page to photograph (default: the first listed)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of demo traffic before the shots")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    if not Path(args.chromium).exists():
        parser.error(f"{args.chromium} not found: apt-get install chromium (never `playwright install`)")
    if args.url:
        if not args.user:
            parser.error("--url needs --user (or MOBILYTICS_UI_USER)")
        password = os.environ.get("MOBILYTICS_UI_PASSWORD") or getpass.getpass(f"password for {args.user}: ")
        written = asyncio.run(
            shoot(
                args.url.rstrip("/"),
                args.user,
                password,
                args.outdir,
                chromium=args.chromium,
                device=args.device,
            )
        )
    else:
        written = asyncio.run(demo(args.outdir, chromium=args.chromium, warmup_s=args.warmup))
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
