"""`stccl`: the Typer app. One module per subcommand, joined here."""

from __future__ import annotations

import typer

from stccl import __version__

from . import edit, inspect, prep, train
from .common import command_help
from . import eval as eval_cmd  # not `eval`: that would shadow the builtin

app = typer.Typer(
    name="stccl",
    help="Change the emotion on a talking face and keep the lip motion (STCCL).",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stccl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Change the emotion on a talking face and keep the lip motion (STCCL).

    Run `stccl COMMAND --help` for the options and examples of each command.
    """


for name, func in [("edit", edit.edit), ("eval", eval_cmd.evaluate), ("inspect", inspect.inspect),
                   ("prep", prep.prep), ("train", train.train)]:
    app.command(name, help=command_help(func))(func)
