"""`mobilytics`: run the control plane and administer it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from cloud.broker.mosquitto import MosquittoConfig
from cloud.core.config import Settings
from cloud.exceptions import CloudError

app = typer.Typer(help="Mobilytics control plane: registry, presence, telemetry ingest, OTA, analytics.")


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="API port (default 8000).")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="Embedded broker's port (default 1883).")] = None,
    broker: Annotated[
        str | None, typer.Option(help="External broker, mqtt://host:port (default: run amqtt embedded).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://user@host/db.")] = None,
    simulate: Annotated[int | None, typer.Option(help="Run this many simulated devices.")] = None,
) -> None:
    """Run API + MQTT bridge (+ embedded broker, + simulated fleet) in one process."""
    from cloud.logs import configure_logging
    from cloud.stack import run_stack

    configure_logging()
    try:
        settings = Settings.from_env(
            api_host=host, api_port=port, mqtt_port=mqtt_port, broker=broker, db=db, simulate=simulate
        )
        asyncio.run(run_stack(settings))
    except CloudError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


@app.command("broker-config")
def broker_config(
    data_dir: Annotated[Path, typer.Option(help="Mosquitto's persistence directory.")] = Path(
        "/var/lib/mosquitto"
    ),
    host: str = "127.0.0.1",
    port: int = 1883,
) -> None:
    """Print a mosquitto.conf that never drops acknowledged telemetry (see cloud/broker/mosquitto.py)."""
    typer.echo(MosquittoConfig(host=host, port=port, data_dir=data_dir).render(), nl=False)
