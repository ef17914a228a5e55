"""`stccl`: the Typer app. One module per subcommand, joined here.

The `stccl` command (`run`) imports only the module of the command it names: `stccl edit ...`
does not build the options of training, prep, eval and inspect, whose help is read from the
config classes' sources at import. Without a command name (`stccl`, `--help`, `--version`, a
wrong name) every command is there, and so it is in `app`, the whole app (for tests and for
Python callers).
"""

from __future__ import annotations

import importlib
import sys

import typer

from stccl import __version__

from .common import command_help

# command -> (module of stccl_cli, function)
COMMANDS = {"edit": ("edit", "edit"), "eval": ("eval", "evaluate"), "inspect": ("inspect", "inspect"),
            "prep": ("prep", "prep"), "train": ("train", "train")}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stccl {__version__}")
        raise typer.Exit()


def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Change the emotion on a talking face and keep the lip motion (STCCL).

    Run `stccl COMMAND --help` for the options and examples of each command.
    """


def build(names: list[str]) -> typer.Typer:
    """The app with these commands (COMMANDS' names, in their order)."""
    app = typer.Typer(
        name="stccl",
        help="Change the emotion on a talking face and keep the lip motion (STCCL).",
        context_settings={"help_option_names": ["-h", "--help"]},
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(main)
    for name in names:
        module, function = COMMANDS[name]
        func = getattr(importlib.import_module(f".{module}", __package__), function)
        app.command(name, help=command_help(func))(func)
    return app


def named(args: list[str]) -> list[str]:
    """The commands a run with these arguments needs: the one it names, else all of them."""
    first = next((a for a in args if not a.startswith("-")), None)
    return [first] if first in COMMANDS else list(COMMANDS)


def run() -> None:
    """The `stccl` command."""
    build(named(sys.argv[1:]))(prog_name="stccl")


def __getattr__(name: str):
    if name == "app":  # built on first use, with every command
        global app
        app = build(list(COMMANDS))
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
