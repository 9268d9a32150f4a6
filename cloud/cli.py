"""`mobilytics`: run the control plane and administer it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud.broker.mosquitto import MosquittoConfig
from cloud.core.config import Settings
from cloud.exceptions import CloudError

if TYPE_CHECKING:
    from sqlmodel import Session

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


token_app = typer.Typer(help="Ops API tokens (stored hashed; the token is printed once).")
app.add_typer(token_app, name="token")


def _engine(db: str | None):  # type: ignore[no-untyped-def]
    from cloud.core.db import make_engine, migrate

    engine = make_engine(Settings.from_env(db=db).db)
    migrate(engine)
    return engine


@token_app.command("create")
def token_create(
    scope: Annotated[str, typer.Option(help="read or write (write implies read).")] = "read",
    name: Annotated[str, typer.Option(help="Who or what the token is for.")] = "ops",
    db: Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://...")] = None,
) -> None:
    """Create a token and print it once: the database keeps only its SHA-256."""
    from sqlmodel import Session

    from cloud.auth.models import Scope
    from cloud.auth.service import create_token
    from cloud.core.types import utcnow

    if scope not in {s.value for s in Scope}:
        typer.secho(f"error: scope must be read or write, not {scope!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    engine = _engine(db)
    with Session(engine) as session:
        row, token = create_token(session, name=name, scope=Scope(scope), now=utcnow())
        session.commit()
        typer.echo(token)
        typer.secho(f"created {scope} token {row.prefix}… for {name!r}; it is not shown again", err=True)
    engine.dispose()


@token_app.command("list")
def token_list(db: Annotated[str | None, typer.Option()] = None) -> None:
    from sqlmodel import Session, select

    from cloud.auth.models import ApiToken

    engine = _engine(db)
    with Session(engine) as session:
        for t in session.exec(select(ApiToken).order_by(ApiToken.id)):  # type: ignore[arg-type]
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            typer.echo(f"{t.prefix}…\t{t.scope}\t{t.name}\t{state}")
    engine.dispose()


@token_app.command("revoke")
def token_revoke(prefix: str, db: Annotated[str | None, typer.Option()] = None) -> None:
    """Revoke the token(s) whose listing prefix is PREFIX (e.g. mob_AbC123)."""
    from sqlmodel import Session

    from cloud.auth.service import revoke
    from cloud.core.types import utcnow

    engine = _engine(db)
    with Session(engine) as session:
        n = revoke(session, prefix=prefix.rstrip("…"), now=utcnow())
        session.commit()
    engine.dispose()
    typer.echo(f"revoked {n} token(s)")
    if n == 0:
        raise typer.Exit(1)


user_app = typer.Typer(help="Ops users of the fleet UI (passwords stored as scrypt hashes).")
app.add_typer(user_app, name="user")


def _password(password_stdin: bool) -> str:
    import sys

    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _in_session(db: str | None, change: Callable[[Session], None]) -> None:
    """Run `change` in one committed transaction; a domain error becomes exit 2 with its reason."""
    from sqlmodel import Session

    engine = _engine(db)
    try:
        with Session(engine) as session:
            change(session)
            session.commit()
    except CloudError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


PasswordStdin = Annotated[bool, typer.Option(help="Read the password from stdin (scripts).")]
DbOption = Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://...")]


@user_app.command("create")
def user_create(username: str, password_stdin: PasswordStdin = False, db: DbOption = None) -> None:
    """Create an ops user who can sign in to the fleet UI at /ui."""
    from cloud.auth.users import create_user
    from cloud.core.types import utcnow

    password = _password(password_stdin)
    _in_session(db, lambda s: create_user(s, username=username, password=password, now=utcnow()))
    typer.echo(f"created ops user {username!r}; sign in at /ui/login")


@user_app.command("password")
def user_password(username: str, password_stdin: PasswordStdin = False, db: DbOption = None) -> None:
    """Set a new password for an ops user."""
    from cloud.auth.users import set_password

    password = _password(password_stdin)
    _in_session(db, lambda s: set_password(s, username=username, password=password))
    typer.echo(f"password of {username!r} changed")


@app.command()
def migrate(
    db: Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://...")] = None,
) -> None:
    """Apply the database migrations (`up` does this itself)."""
    _engine(db).dispose()
    typer.echo("database at the latest migration")


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
