"""What every subcommand shares: consoles, logging, error handling, progress bars."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from stccl.config import load_toml, overlay
from stccl.errors import StcclError

console = Console()
err_console = Console(stderr=True)

VERBOSE_OPTION = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug logs.")
CONFIG_OPTION = typer.Option(
    None, "--config", help="TOML file with options; command-line options override it.",
    dir_okay=False,
)


def setup_logging(verbose: bool) -> None:
    handler = RichHandler(console=err_console, show_time=False, show_path=verbose, markup=False)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler], force=True)
    logging.getLogger("stccl").setLevel(logging.DEBUG if verbose else logging.INFO)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn exceptions into one red line and a non-zero exit (tracebacks only with --verbose)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(kwargs.get("verbose"))
        setup_logging(verbose)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except StcclError as e:
            if verbose:
                err_console.print_exception()
            raise fail(one_line(e)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as e:  # a bug, not bad input: still one line unless --verbose
            if verbose:
                err_console.print_exception()
            raise fail(f"internal error: {type(e).__name__}: {one_line(e)} "
                       "(run with --verbose for the traceback)", 2) from None

    return wrapper


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def resolve_config(defaults: Any, config_file: Any, given: dict[str, Any]) -> Any:
    """CLI option > config file > default. `given` holds only the options the user set."""
    cfg = defaults
    if config_file is not None:
        cfg = overlay(cfg, load_toml(config_file), str(config_file))
    return overlay(cfg, given, "option")


def make_progress(transient: bool = False) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    )
