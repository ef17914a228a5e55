"""What every subcommand shares: consoles, logging, error handling, progress bars."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import signal
from pathlib import Path
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

from stccl.config import load_toml
from stccl.errors import StcclError, Terminated
from stccl.interrupts import terminate_like_interrupt
from stccl.typed import FieldInfo, check_value, describe, has_key, nest, overlay

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
            with terminate_like_interrupt():
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except StcclError as e:
            if verbose:
                err_console.print_exception()
            raise fail(one_line(e)) from None
        except Terminated as e:
            name = signal.Signals(e.signum).name
            raise fail(f"stopped by {name}; unfinished outputs were removed", 128 + e.signum) from None
        except KeyboardInterrupt:
            raise fail("interrupted; unfinished outputs were removed", 130) from None
        except Exception as e:  # a bug, not bad input: still one line unless --verbose
            if verbose:
                err_console.print_exception()
            raise fail(f"internal error: {type(e).__name__}: {one_line(e)} "
                       "(run with --verbose for the traceback)", 2) from None

    return wrapper


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def resolve_config(defaults: Any, config_file: Any, given: dict[str, Any],
                   names: dict[str, str] | None = None) -> Any:
    """CLI option > config file > default. `given` holds only the options the user set (nested
    tables or dotted keys); `names` maps their dotted keys to the flags shown in errors."""
    cfg = defaults
    if config_file is not None:
        cfg = overlay(cfg, load_toml(config_file), f"--config {config_file}")
    return overlay(cfg, nest(given), "option", names=names)


class ConfigOptions:
    """Typer options that map onto fields of config dataclasses.

    `opts("track.tracker", "--tracker")` declares an option whose help, choices and default
    come from the field; `opts.given(locals())` gives the options the user set as dotted keys,
    and `opts.resolve(cfg, config_file, locals())` applies them over `--config` and `cfg`.
    The option's Python parameter is named after its long flag (--out-dir -> out_dir).
    """

    def __init__(self, *configs: type, show_defaults: bool = True):
        self.configs, self.show_defaults = configs, show_defaults
        self.keys: dict[str, tuple[str, str, Callable | None]] = {}  # param -> (key, flag, parse)

    def __call__(self, key: str, *flags: str, parse: Callable[[Any], Any] | None = None,
                 help: str | None = None, show_default: bool = True) -> Any:
        info = self._describe(key)
        flag = next(f for f in flags if f.startswith("--"))
        self.keys[flag[2:].replace("-", "_")] = (key, flag, parse)
        text = help or _sentence(info.doc)
        if info.choice_help and not help:
            text += f" Choices: {info.choice_help}."
        elif info.choices and not help:
            text += f" Choices: {' | '.join(info.choices)}."
        elif "," in info.what and not help:  # an enumeration, e.g. the devices
            text += f" Takes {info.what}."
        shown = _default_text(info.default) if show_default and self.show_defaults else ""
        text = escape(text) + (f"  \\[default: {escape(shown)}]" if shown else "")
        if isinstance(info.default, bool):
            return typer.Option(False, *flags, help=text, show_default=False)
        return typer.Option(None, *flags, help=text, show_default=False)

    def given(self, values: dict[str, Any]) -> dict[str, Any]:
        """The options set in `values` (a command's locals()) as {dotted key: checked value}."""
        out = {}
        for name, (key, flag, parse) in self.keys.items():
            value = values[name]
            if value is None or value is False:
                continue
            value = parse(value) if parse else (str(value) if isinstance(value, Path) else value)
            cls = next(c for c in self.configs if has_key(c, key))
            out[key] = check_value(cls, key, value, names={key: flag})
        return out

    def names(self) -> dict[str, str]:
        return {key: flag for key, flag, _ in self.keys.values()}

    def resolve(self, defaults: Any, config_file: Any, values: dict[str, Any]) -> Any:
        return resolve_config(defaults, config_file, self.given(values), self.names())

    def _describe(self, key: str) -> FieldInfo:
        for cls in self.configs:
            if has_key(cls, key):
                return describe(cls, key)
        raise KeyError(key)  # a bug in a command's option table


def _sentence(doc: str) -> str:
    return doc[:1].upper() + doc[1:] + ("." if doc and not doc.endswith(".") else "")


def _default_text(default: Any) -> str:
    if default is None or default is dataclasses.MISSING or default is False or default == []:
        return ""
    if isinstance(default, list):
        return ",".join(map(str, default))
    return str(default)


def csv(value: str) -> list[str]:
    """"a, b,c" -> ["a", "b", "c"]."""
    return [v.strip() for v in value.split(",") if v.strip()]


def command_help(func: Callable) -> str:
    """A command's docstring as help that renders as written: each prose paragraph on one line
    (the terminal wraps it), indented lines such as examples kept, brackets shown literally
    (not read as Rich markup)."""
    out = []
    for para in inspect.cleandoc(func.__doc__ or "").split("\n\n"):
        lines = para.split("\n")
        if not any(ln.startswith(" ") for ln in lines):
            para = " ".join(ln.strip() for ln in lines)
        out.append(escape(para))
    return "\n\n".join(out)


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
