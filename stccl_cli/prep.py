"""`stccl prep`: prepare MEAD, RAVDESS or any folder of videos for training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from stccl.config import PrepConfig
from stccl.devices import require_device
from stccl.errors import InputError

if TYPE_CHECKING:
    from stccl.data.prep import PrepSummary

from .common import CONFIG_OPTION, VERBOSE_OPTION, ConfigOptions, cli_errors, console, csv, make_progress

opt = ConfigOptions(PrepConfig)


def _levels(value: str) -> list[int]:
    try:
        return [int(v.removeprefix("level_")) for v in csv(value)]
    except ValueError:
        raise InputError(f"--levels: not a list of level numbers: {value!r}") from None


@cli_errors
def prep(
    input_dir: Path = typer.Argument(
        ..., help="Dataset root (MEAD or RAVDESS layout, any folder of videos) or a CSV manifest."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder of the prepared dataset."),
    layout: Optional[str] = opt("layout", "--layout"),
    tracker: Optional[str] = opt("track.tracker", "--tracker"),
    size: Optional[int] = opt("align.size", "--size"),
    workers: Optional[int] = opt("workers", "--workers"),
    shard: Optional[str] = opt("shard", "--shard", show_default=False),
    views: Optional[str] = opt("views", "--views", parse=csv, help="MEAD views, comma-separated."),
    levels: Optional[str] = opt("levels", "--levels", parse=_levels,
                                help="MEAD intensity levels, comma-separated (default: all)."),
    face: Optional[int] = opt("track.face", "--face"),
    device: Optional[str] = opt("track.device", "--device"),
    retry_failed: bool = opt("retry_failed", "--retry-failed"),
    config: Optional[Path] = CONFIG_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Track, align and crop every face video under INPUT_DIR, and pair takes across emotions.

    The output can be resumed: running the same command again skips finished clips.

    Examples:

      stccl prep ~/data/MEAD -o prepared/mead --levels 1,3 --workers 4

      stccl prep ~/data/RAVDESS -o prepared/ravdess --shard 2/8

      stccl prep my_clips/ -o prepared/mine --tracker dlib
    """
    cfg: PrepConfig = opt.resolve(PrepConfig(), config, locals())
    require_device(cfg.track.device)  # a missing GPU is one line, before any clip is read
    summary = _run_with_progress(input_dir, out, cfg)
    _print_summary(summary, out)
    if summary.failed_total:
        raise typer.Exit(1)


def _run_with_progress(input_dir: Path, out: Path, cfg: PrepConfig) -> PrepSummary:
    from stccl.data.prep import run_prep  # here: `stccl prep --help` imports no cv2 or librosa

    progress = make_progress()
    clips = progress.add_task("clips", total=None)
    frames = progress.add_task("frames", total=None, visible=False)

    def on_event(kind: str, data: dict) -> None:
        if kind == "plan":  # inputs are valid by now: show the bars
            progress.start()
            progress.update(clips, total=data["todo"])
            if data["skipped"]:
                progress.console.print(f"skipping {data['skipped']} clip(s) already prepared")
        elif kind == "clip_start":
            progress.reset(frames, total=data["frames"], visible=True, description=f"  {data['id']}")
        elif kind == "frames":
            progress.advance(frames, data["n"])
        elif kind == "clip_done":
            progress.advance(clips)
            if data["status"] != "ok":
                progress.console.print(f"[red]failed[/] {data['id']}: {data['error']}", highlight=False)
        elif kind == "pairs_start":
            progress.update(frames, visible=False)
            progress.update(clips, description="pairing")

    try:
        return run_prep(input_dir, out, cfg, on_event)
    finally:
        progress.stop()


def _print_summary(s: PrepSummary, out: Path) -> None:
    table = Table(title=f"stccl prep -> {out}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("clips ok", str(s.ok))
    table.add_row("clips failed", f"[red]{s.failed}[/]" if s.failed else "0")
    table.add_row("clips skipped (done before)", str(s.skipped))
    table.add_row("frames", str(s.frames))
    table.add_row("faces found", f"{100 * s.face_ratio:.1f}%" if s.frames else "-")
    table.add_row("cross-emotion pairs", str(s.pairs))
    table.add_row("time", f"{s.seconds:.1f} s")
    console.print(table)
