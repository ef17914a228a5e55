"""`stccl inspect`: pictures of the correlation metric's patch correlations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from stccl.registry import TRACKERS

from .common import VERBOSE_OPTION, cli_errors, console, make_progress


@cli_errors
def inspect(
    input: Path = typer.Argument(..., help="A video, an image (png/jpg) or a prepared clip folder."),
    second: Optional[Path] = typer.Argument(
        None, help="The same content in another emotion (same kinds); adds the match panel."),
    out: Path = typer.Option(..., "-o", "--out", help="Output picture (.png) or video (.mp4)."),
    metric: Optional[Path] = typer.Option(
        None, "--metric",
        help="Metric weights (RUN/metric.safetensors); without it an UNTRAINED IResNet-18 at 128 px."),
    frame: Optional[int] = typer.Option(
        None, "--frame", help="Frame of INPUT to draw, from 0; by default the middle frame."),
    stage: int = typer.Option(2, "--stage", help="Backbone stage 1..4 (maps of 1/2 .. 1/16 of the crop)."),
    retrieval: bool = typer.Option(
        False, "--retrieval",
        help="With two prepared clips that are a pair: their similarity matrix, the DTW path on it."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps"),
    tracker: str = typer.Option("auto", "--tracker", help=escape(f"Landmark tracker. Choices: {TRACKERS.help()}.")),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output if it exists."),
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Draw what the correlation metric sees on a face: its patch correlations.

    Over the aligned face of one frame: (1) how much each region's features
    differ from its 8 neighbours, (2) the adaptive loss weight of each region,
    (3) with SECOND, how well each region's correlations match between the two
    faces, (4) for a video, how the features change along time, on a strip of
    frames around the chosen one.

    SECOND's frame is the one at the same relative time:
    round(N * frames(SECOND) / frames(INPUT)). With -o x.mp4 every frame of
    the video is drawn (crop | spatial | temporal). With --retrieval, INPUT
    and SECOND are two prepared clips of one pair, and the picture is the
    metric's frame-by-frame similarity matrix with the DTW path and each
    neutral frame's best match (the val/retrieval@1 diagnostic). Without --metric the
    picture says UNTRAINED. An existing output is kept unless --overwrite
    is given; inputs are never modified. See docs/inspect.md.

    Examples:

      stccl inspect talk.mp4 -o corr.png

      stccl inspect neutral.mp4 happy.mp4 --metric run/metric.safetensors -o p.png

      stccl inspect face.jpg -o face_corr.png --stage 3

      stccl inspect prepared/clips/W015_level_1_neutral_030 --frame 40 -o clip.png

      stccl inspect talk.mp4 --metric run/metric.safetensors -o corr.mp4

      stccl inspect prep/clips/W009_front_neutral_1_001 prep/clips/W009_front_happy_3_001 --retrieval --metric run/metric.safetensors -o sim.png
    """
    from stccl.inspect import inspect_correlations  # here: `stccl --version` imports no torch

    progress = make_progress(transient=True)
    task = progress.add_task("inspect", total=None)

    def on_progress(done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        summary = inspect_correlations(input, second, metric_path=metric, out=out, frame=frame,
                                       stage=stage, device=device, tracker=tracker,
                                       progress=on_progress, retrieval=retrieval,
                                       overwrite=overwrite)
    finally:
        if progress.live.is_started:
            progress.stop()
    console.print(escape(summary.describe()), highlight=False, soft_wrap=True)
