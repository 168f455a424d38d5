"""The `sluice` command line: one Typer app, and the console every command prints to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The sluice command line.")
console = Console()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error, on one line however long, and return the exit to raise:
    `raise fail(...)`."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def settings_first() -> None:
    """The settings are read before any command, so a bad one is one clear line."""
    from components.base.settings import SettingsError, get_settings

    try:
        get_settings()
    except SettingsError as exc:
        raise fail(f"settings: {exc}") from None
