"""``mobilytics-provision``: one command from a blank ESP32 or Pi to a registered, heartbeating device.

    mobilytics-provision esp32 setup --port /dev/ttyUSB0 --device bb-0042 --image ESP32.bin \\
        --bundle firmware/build/bundle --fleet-key HEX --token enr_... --api https://fleet.example
    mobilytics-provision pi setup --device pi-0007 [--host pi@10.0.0.7] --token enr_... --api ...

Each step is also a command (``esp32 flash``, ``esp32 install``, ``pi install``, ``register``,
``check``), records itself in ``<workdir>/<device>/state.json`` and is skipped when already done with
the same inputs, so a setup interrupted anywhere is resumed by running it again. Everything before
``register`` works offline. ``--json`` prints one JSON object per command for scripts; errors exit 1
with ``{"ok": false, "error": ..., "hint": ...}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from provisioning import cloud, esp32, pi
from provisioning.exceptions import ProvisionError, StateError
from provisioning.local_identity import BOARD_NAMES, board_files, credential_files, ensure_key
from provisioning.state import DeviceState, fingerprint

app = typer.Typer(
    no_args_is_help=True, help="Provision ESP32 boards and Raspberry Pis for a Mobilytics fleet."
)
esp32_app = typer.Typer(no_args_is_help=True, help="ESP32 boards over USB serial.")
pi_app = typer.Typer(no_args_is_help=True, help="Raspberry Pis, this one or over SSH.")
app.add_typer(esp32_app, name="esp32")
app.add_typer(pi_app, name="pi")

DEFAULT_WORKDIR = Path(os.environ.get("MOBILYTICS_PROVISION_DIR", Path.home() / ".mobilytics" / "devices"))


@dataclass
class Ctx:
    workdir: Path
    json: bool
    console: Console
    results: list[dict[str, Any]]

    def say(self, text: str) -> None:
        if not self.json:
            self.console.print(text)

    @contextmanager
    def progress(self, label: str) -> Iterator[Callable[[float], None]]:
        if self.json:
            yield lambda _p: None
            return
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=100)
            yield lambda p: bar.update(task, completed=p)
            bar.update(task, completed=100)


def _ctx(c: typer.Context) -> Ctx:
    return c.obj  # type: ignore[no-any-return]


@app.callback()
def main(
    c: typer.Context,
    workdir: Annotated[
        Path, typer.Option(help="Where device state, keys and certificates are kept.")
    ] = DEFAULT_WORKDIR,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per command on stdout.")] = False,
) -> None:
    c.obj = Ctx(workdir=workdir, json=json_out, console=Console(stderr=json_out), results=[])


def run_step(c: typer.Context, step: Callable[[Ctx], dict[str, Any]]) -> None:
    """One seam for output and errors: the step's facts as JSON, or its error with a hint and exit 1."""
    ctx = _ctx(c)
    try:
        facts = step(ctx)
    except ProvisionError as e:
        if ctx.json:
            typer.echo(
                json.dumps({"ok": False, "error": e.message, "type": type(e).__name__, "hint": e.hint})
            )
        else:
            ctx.console.print(f"[bold red]error:[/] {e.message}")
            if e.hint:
                ctx.console.print(f"[yellow]hint:[/] {e.hint}")
        raise typer.Exit(1) from None
    if ctx.json:
        typer.echo(json.dumps({"ok": True, **facts}, default=str))


DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="Device id, e.g. bb-0042.")]
PortOpt = Annotated[str, typer.Option("--port", "-p", help="Serial port, e.g. /dev/ttyUSB0.")]
ApiOpt = Annotated[str, typer.Option("--api", envvar="MOBILYTICS_API", help="The cloud's API base URL.")]
TokenOpt = Annotated[
    str, typer.Option("--token", envvar="MOBILYTICS_ENROLLMENT_TOKEN", help="One-time enrollment token.")
]


# ---- steps (plain functions, chained by the setup commands) ------------------------------------------------


def do_flash(ctx: Ctx, *, device: str, port: str, image: Path, chip: str, force: bool) -> dict[str, Any]:
    state = DeviceState.open(ctx.workdir, device, "esp32")
    tool = esp32.Esptool(chip=chip)
    digest = esp32.check_image(tool, image)
    fp = fingerprint(digest, chip, port)
    if state.done("flash", fp) and not force:
        ctx.say(f"[green]✓[/] {device}: MicroPython image already flashed ({digest[:12]}), skipping")
        return {"device_id": device, "step": "flash", "skipped": True}
    with ctx.progress("erase") as p:
        tool.erase(port, p)
    with ctx.progress("write") as p:
        tool.write(port, image, p)
    tool.verify(port, image)
    state.mark("flash", fp, image_sha256=digest, chip=chip)
    ctx.say(f"[green]✓[/] {device}: flashed and verified {image.name}")
    return {"device_id": device, "step": "flash", "skipped": False, "image_sha256": digest}


def device_document(
    state: DeviceState, *, fleet_key: str, wifi_ssid: str, wifi_psk: str, mqtt: dict[str, Any]
) -> dict:
    """``device.json`` as firmware/src/identity.py reads it."""
    reg = state.data.get("registration")
    broker = dict(mqtt)
    if reg:
        broker.update(reg["broker"])
    if not broker.get("host"):
        raise StateError(
            f"{state.device_id}: no broker to write into device.json",
            hint="pass --mqtt-host (offline install) or run `register` first",
        )
    doc_mqtt = {"host": broker["host"], "port": int(broker.get("port", 8883)), "keepalive": 30}
    if broker.get("tls", True):
        names = BOARD_NAMES
        doc_mqtt.update(tls=True, ca=names["ca"], cert=names["cert"], key=names["key"])
    if reg and broker.get("password_fallback"):
        doc_mqtt.update(user=reg["username"], password=reg["password"])
    return {
        "device_id": state.device_id,
        "fleet_key": fleet_key,
        "wifi": {"ssid": wifi_ssid, "psk": wifi_psk},
        "mqtt": doc_mqtt,
    }


def do_esp32_install(
    ctx: Ctx,
    *,
    device: str,
    port: str,
    bundle: Path,
    fleet_key: str,
    wifi_ssid: str,
    wifi_psk: str,
    mqtt: dict[str, Any],
    board: esp32.Board,
) -> dict[str, Any]:
    state = DeviceState.open(ctx.workdir, device, "esp32")
    if len(fleet_key) != 64 or any(ch not in "0123456789abcdef" for ch in fleet_key.lower()):
        raise StateError("--fleet-key must be 64 hex characters (the fleet's 256-bit HMAC key)")
    ensure_key(state)
    doc = device_document(
        state, fleet_key=fleet_key.lower(), wifi_ssid=wifi_ssid, wifi_psk=wifi_psk, mqtt=mqtt
    )
    doc_path = state.directory / "device.json"
    doc_path.write_text(json.dumps(doc, sort_keys=True))
    files = esp32.bundle_files(bundle)
    creds = board_files(state)
    files += [(path, BOARD_NAMES[name]) for name, path in creds.items()] + [(doc_path, "device.json")]
    planned = esp32.plan(files)
    fp = fingerprint(*(f"{f.remote}={f.sha256}" for f in planned))
    with ctx.progress("copy") as p:
        copied = esp32.install(board, planned, p)
    if copied or not state.done("install", fp):
        board.reset()
    state.mark("install", fp, files=len(planned), copied=len(copied), registered="cert" in creds)
    ctx.say(f"[green]✓[/] {device}: {len(copied)} of {len(planned)} files copied, board reset")
    return {
        "device_id": device,
        "step": "install",
        "copied": copied,
        "files": len(planned),
        "with_certificate": "cert" in creds,
    }


def do_register(
    ctx: Ctx, *, device: str, hardware: str, api: str, token: str, client: httpx.Client | None
) -> dict:
    state = DeviceState.open(ctx.workdir, device, hardware)
    key = ensure_key(state)
    if state.done("register") and (state.directory / "device.crt").exists():
        ctx.say(f"[green]✓[/] {device}: already registered, skipping")
        return {"device_id": device, "step": "register", "skipped": True}
    http = client or httpx.Client(base_url=api, timeout=30)
    reg = cloud.register(http, token=token, device_id=device, hardware=hardware, csr_pem=key.csr_pem.decode())
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(reg.certificate.encode())
    if not key.matches(cert):
        raise StateError(
            f"{device}: the cloud returned a certificate for another key", hint="report this to ops"
        )
    (state.directory / "device.crt").write_text(reg.certificate)
    (state.directory / "ca.crt").write_text(reg.ca)
    state.data["registration"] = {
        "broker": reg.broker,
        "username": reg.username,
        "password": reg.password,
        "tenant": reg.tenant,
    }
    state.mark("register", fingerprint(reg.certificate), serial=format(cert.serial_number, "x"))
    ctx.say(f"[green]✓[/] {device}: registered (tenant {reg.tenant}), certificate {cert.serial_number:x}")
    return {
        "device_id": device,
        "step": "register",
        "skipped": False,
        "broker": reg.broker,
        "serial": format(cert.serial_number, "x"),
    }


def do_check(ctx: Ctx, *, device: str, api: str, timeout: float, client: httpx.Client | None) -> dict:
    http = client or httpx.Client(base_url=api, timeout=30)
    ctx.say(f"waiting up to {timeout:.0f}s for {device}'s first heartbeat…")
    record = cloud.wait_heartbeat(http, device_id=device, timeout=timeout)
    ctx.say(
        f"[green]✓[/] {device}: {record.get('status')} , last heartbeat {record.get('last_heartbeat_at')}"
    )
    return {
        "device_id": device,
        "step": "check",
        "status": record.get("status"),
        "last_heartbeat_at": record.get("last_heartbeat_at"),
    }


def do_pi_install(
    ctx: Ctx,
    *,
    device: str,
    target: pi.Target,
    agent: pi.AgentInstall,
    fleet_key: str,
    mqtt: dict[str, Any],
    start: bool,
    sources: tuple[str, ...] | list[str] = pi.DEFAULT_SOURCES,
) -> dict[str, Any]:
    state = DeviceState.open(ctx.workdir, device, "rpi")
    ensure_key(state)
    ident = pi.CONFIG_DIR / "identity"
    if not state.done("pip", fingerprint(agent.spec)):
        ctx.say(f"installing {agent.spec} …")
        target.run(agent.pip_argv())
        state.mark("pip", fingerprint(agent.spec), spec=agent.spec)
    changed = []
    creds = credential_files(state)
    for name, path in creds.items():
        if pi.put(target, ident / path.name, path.read_bytes(), 0o600 if name == "key" else 0o644):
            changed.append(str(ident / path.name))
    if pi.put(target, pi.CONFIG_DIR / "fleet.key", (fleet_key + "\n").encode(), 0o600):
        changed.append(str(pi.CONFIG_DIR / "fleet.key"))
    reg = state.data.get("registration")
    broker = {**mqtt, **(reg["broker"] if reg else {})}
    mqtt_table: dict[str, object] = {"host": broker.get("host"), "port": broker.get("port")}
    if broker.get("tls", True):
        mqtt_table.update(
            tls_ca=str(ident / "ca.crt"),
            tls_cert=str(ident / "device.crt"),
            tls_key=str(ident / "device.key"),
        )
    if reg and broker.get("password_fallback"):
        mqtt_table.update(username=reg["username"], password=reg["password"])
    tables: dict[str, dict[str, object]] = {"mqtt": mqtt_table}
    for text in sources:
        try:
            kind, values = pi.parse_source(text)
        except ValueError as e:
            raise StateError(str(e)) from None
        tables[f"sources.{kind}"] = values
    # The agent's format (edge_agent/config.py, agent.example.toml) is the contract.
    top = {"device_id": device, "fleet_key_file": str(pi.CONFIG_DIR / "fleet.key"), "hw": "rpi"}
    config = pi.CONFIG_DIR / "agent.toml"
    if pi.put(target, config, pi.agent_toml(top, tables).encode(), 0o640):
        changed.append(str(config))
    if pi.put(target, pi.UNIT_PATH, pi.unit_text(python=agent.python, config=config).encode()):
        changed.append(str(pi.UNIT_PATH))
    registered = "cert" in creds
    if start and registered:
        target.run(["systemctl", "daemon-reload"])
        target.run(["systemctl", "enable", pi.UNIT_NAME])
        target.run(["systemctl", "restart" if changed else "start", pi.UNIT_NAME])
    state.mark(
        "install",
        fingerprint(*changed) if changed else state.steps.get("install", {}).get("fingerprint"),
        registered=registered,
    )
    ctx.say(
        f"[green]✓[/] {device}: {len(changed)} files changed"
        + ("" if registered else " (not started: register first)")
    )
    return {"device_id": device, "step": "install", "changed": changed, "started": start and registered}


# ---- commands ------------------------------------------------------------------------------------------


SourceOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Agent source, repeatable: monitor:IFACE, ble[:ADAPTER], simulate "
        "(default: monitor:wlan1mon and ble).",
    ),
]
MqttHostOpt = Annotated[
    str | None, typer.Option(help="Broker host for an offline install (registration overrides).")
]


@esp32_app.command("flash")
def esp32_flash(
    c: typer.Context,
    port: PortOpt,
    device: DeviceOpt,
    image: Annotated[Path, typer.Option(help="MicroPython .bin for the chip.")],
    chip: str = "esp32",
    force: bool = False,
) -> None:
    """Erase the board and write + verify the MicroPython image (esptool)."""
    run_step(c, lambda ctx: do_flash(ctx, device=device, port=port, image=image, chip=chip, force=force))


def _board(port: str, soft_reset: bool) -> esp32.Board:
    return esp32.Board(port, soft_reset=soft_reset)


@esp32_app.command("install")
def esp32_install(
    c: typer.Context,
    port: PortOpt,
    device: DeviceOpt,
    bundle: Annotated[Path, typer.Option(help="Firmware bundle directory (firmware/build.py).")],
    fleet_key: Annotated[str, typer.Option(envvar="MOBILYTICS_FLEET_KEY", help="Fleet HMAC key, 64 hex.")],
    wifi_ssid: str = "",
    wifi_psk: str = "",
    mqtt_host: MqttHostOpt = None,
    mqtt_port: int = 8883,
    soft_reset: Annotated[bool, typer.Option(help="Soft-reset before copying (mpremote's default).")] = True,
) -> None:
    """Copy the firmware bundle, the identity and device.json to the board, then reset it (mpremote)."""
    run_step(
        c,
        lambda ctx: do_esp32_install(
            ctx,
            device=device,
            port=port,
            bundle=bundle,
            fleet_key=fleet_key,
            wifi_ssid=wifi_ssid,
            wifi_psk=wifi_psk,
            mqtt={"host": mqtt_host, "port": mqtt_port},
            board=_board(port, soft_reset),
        ),
    )


@app.command("register")
def register_cmd(
    c: typer.Context,
    device: DeviceOpt,
    api: ApiOpt,
    token: TokenOpt,
    hardware: Annotated[str, typer.Option(help="esp32 or rpi")] = "esp32",
) -> None:
    """Claim the device with its one-time enrollment token; store its certificate and broker settings."""
    run_step(
        c, lambda ctx: do_register(ctx, device=device, hardware=hardware, api=api, token=token, client=None)
    )


@app.command("check")
def check_cmd(c: typer.Context, device: DeviceOpt, api: ApiOpt, timeout: float = 120) -> None:
    """Wait for the device's first heartbeat and print its status."""
    run_step(c, lambda ctx: do_check(ctx, device=device, api=api, timeout=timeout, client=None))


@esp32_app.command("setup")
def esp32_setup(
    c: typer.Context,
    port: PortOpt,
    device: DeviceOpt,
    api: ApiOpt,
    token: TokenOpt,
    image: Annotated[Path, typer.Option()],
    bundle: Annotated[Path, typer.Option()],
    fleet_key: Annotated[str, typer.Option(envvar="MOBILYTICS_FLEET_KEY")],
    wifi_ssid: str = "",
    wifi_psk: str = "",
    chip: str = "esp32",
    timeout: float = 120,
    soft_reset: bool = True,
    skip_flash: bool = False,
) -> None:
    """flash → install (offline) → register → install the certificate → check."""

    def chain(ctx: Ctx) -> dict[str, Any]:
        board = _board(port, soft_reset)
        steps = []
        if not skip_flash:
            steps.append(do_flash(ctx, device=device, port=port, image=image, chip=chip, force=False))
        install = dict(
            device=device,
            port=port,
            bundle=bundle,
            fleet_key=fleet_key,
            wifi_ssid=wifi_ssid,
            wifi_psk=wifi_psk,
            mqtt={},
            board=board,
        )
        state = DeviceState.open(ctx.workdir, device, "esp32")
        if state.data.get("registration") is None:
            ensure_key(state)
        steps.append(do_register(ctx, device=device, hardware="esp32", api=api, token=token, client=None))
        steps.append(do_esp32_install(ctx, **install))  # type: ignore[arg-type]
        steps.append(do_check(ctx, device=device, api=api, timeout=timeout, client=None))
        return {"device_id": device, "steps": steps}

    run_step(c, chain)


def _target(host: str | None, root: Path) -> pi.Target:
    return pi.SshTarget(host) if host else pi.LocalTarget(root)


@pi_app.command("install")
def pi_install(
    c: typer.Context,
    device: DeviceOpt,
    fleet_key: Annotated[str, typer.Option(envvar="MOBILYTICS_FLEET_KEY")],
    host: Annotated[
        str | None, typer.Option(help="user@host of the Pi; omit to install on this machine.")
    ] = None,
    root: Annotated[Path, typer.Option(help="Install under this root (local only; tests, images).")] = Path(
        "/"
    ),
    agent_spec: str = "mobilytics[agent]",
    mqtt_host: MqttHostOpt = None,
    mqtt_port: int = 8883,
    start: bool = True,
    source: SourceOpt = None,
) -> None:
    """pip-install the agent, write identity + agent.toml + the systemd unit, start it once registered."""
    run_step(
        c,
        lambda ctx: do_pi_install(
            ctx,
            device=device,
            target=_target(host, root),
            agent=pi.AgentInstall(spec=agent_spec),
            fleet_key=fleet_key,
            mqtt={"host": mqtt_host, "port": mqtt_port},
            start=start,
            sources=source or pi.DEFAULT_SOURCES,
        ),
    )


@pi_app.command("setup")
def pi_setup(
    c: typer.Context,
    device: DeviceOpt,
    api: ApiOpt,
    token: TokenOpt,
    fleet_key: Annotated[str, typer.Option(envvar="MOBILYTICS_FLEET_KEY")],
    host: str | None = None,
    root: Path = Path("/"),
    agent_spec: str = "mobilytics[agent]",
    timeout: float = 120,
    start: bool = True,
    source: SourceOpt = None,
) -> None:
    """install (offline) → register → install the certificate and start → check."""

    def chain(ctx: Ctx) -> dict[str, Any]:
        target, agent = _target(host, root), pi.AgentInstall(spec=agent_spec)
        steps = [do_register(ctx, device=device, hardware="rpi", api=api, token=token, client=None)]
        steps.append(
            do_pi_install(
                ctx,
                device=device,
                target=target,
                agent=agent,
                fleet_key=fleet_key,
                mqtt={},
                start=start,
                sources=source or pi.DEFAULT_SOURCES,
            )
        )
        steps.append(do_check(ctx, device=device, api=api, timeout=timeout, client=None))
        return {"device_id": device, "steps": steps}

    run_step(c, chain)


@app.command("status")
def status_cmd(c: typer.Context, device: DeviceOpt) -> None:
    """What the state file says is done for a device."""

    def show(ctx: Ctx) -> dict[str, Any]:
        path = ctx.workdir / device / "state.json"
        if not path.exists():
            raise StateError(f"no state for {device} in {ctx.workdir}")
        doc = json.loads(path.read_text())
        for step, rec in doc["steps"].items():
            ctx.say(f"{step:10} {rec['at']}")
        return {"device_id": device, "steps": doc["steps"]}

    run_step(c, show)
