"""Command-line interface of stccl (Typer). Each subcommand lives in its own module."""
