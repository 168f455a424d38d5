"""The `sluice` command line: one Typer app, and the console every command prints to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The sluice command line.")
console = Console()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error and return the exit to raise: `raise fail(...)`."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
