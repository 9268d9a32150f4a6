"""``mobilytics-agent``: run the edge agent, or check a config before deploying it."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer

from edge_agent.exceptions import AgentError

app = typer.Typer(
    help="Mobilytics edge agent for Raspberry Pi: WiFi probe / BLE / GPS capture, privacy hashing, "
    "store-and-forward over MQTT (protocol v1).",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="agent.toml (see edge_agent/agent.example.toml); "
        "MOBILYTICS_AGENT__<TABLE>__<KEY> overrides any key.",
    ),
]


def _logging(level: str) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


@app.command()
def run(
    config: ConfigOption = Path("/etc/mobilytics/agent.toml"),
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the agent until SIGTERM or SIGINT; then store the open batch, say offline, and exit 0."""
    from edge_agent import config as agent_config
    from edge_agent.agent import Agent

    _logging(log_level)
    try:
        cfg = agent_config.load(config)
    except AgentError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from e

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        agent = Agent(cfg)
        await agent.run(stop)
        return agent.exit_code

    try:
        code = asyncio.run(main())
    except* AgentError as group:
        for e in group.exceptions:
            typer.echo(f"agent error: {e}", err=True)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)  # RESTART (75): an update wants the release `current` points at


@app.command()
def supervise(
    config: ConfigOption = Path("/etc/mobilytics/agent.toml"),
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the agent from its current release and start it again whenever it exits (what systemd's
    Restart= does, plus choosing the release directory and the self-test watchdog)."""
    from edge_agent import config as agent_config
    from edge_agent.launcher import Launcher

    _logging(log_level)
    try:
        cfg = agent_config.load(config)
    except AgentError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from e
    raise typer.Exit(Launcher(cfg, config, log_level=log_level).run())


@app.command()
def check(config: ConfigOption = Path("/etc/mobilytics/agent.toml")) -> None:
    """Validate a config file (and the environment overrides) and print the effective settings."""
    from edge_agent import config as agent_config

    try:
        cfg = agent_config.load(config)
    except AgentError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"device {cfg.device_id}: broker {cfg.mqtt.host}:{cfg.mqtt.port}, data in {cfg.data_dir}")
    typer.echo(f"tunables: {cfg.tunables.as_dict()}")
