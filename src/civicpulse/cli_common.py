"""What every `civicpulse` sub-command shares: the two consoles, stopping with a message, settings and the
database, and the actor the command line acts as.

The command line is the installation operator's tool: it acts as the system (it sees every unit), and
writes still go through the services, so they are audited with ``via="cli"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from civicpulse.config import Settings
    from civicpulse.db.session import Database
    from civicpulse.domain.org.permissions import Actor

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code`` (2 = configuration)."""
    err.print(f"[red]Error:[/red] {message}")
    raise typer.Exit(code)


def settings_and_db() -> tuple[Settings, Database]:
    from civicpulse.config import SettingsError, get_settings
    from civicpulse.db.session import Database

    try:
        settings = get_settings()
    except SettingsError as exc:
        fail(f"Configuration error: {exc}", 2)
    return settings, Database(settings)


def database() -> Database:
    return settings_and_db()[1]


def cli_actor() -> Actor:
    from civicpulse.domain.org.permissions import Actor

    return Actor.system_actor("cli", via="cli")
