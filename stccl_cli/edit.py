"""`stccl edit`: re-express talking-face videos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from stccl.config import EditConfig
from stccl.data.layouts import VIDEO_EXTENSIONS
from stccl.edit.editor import Editor, default_output, is_edit_output
from stccl.edit.engine import check_emotion
from stccl.edit.preview import write_preview
from stccl.errors import InputError, StcclError
from stccl.fs import ensure_writable_dir
from stccl.video import probe

from .common import CONFIG_OPTION, VERBOSE_OPTION, cli_errors, console, make_progress, one_line, resolve_config

@cli_errors
def edit(
    inputs: list[Path] = typer.Argument(..., help="Video files, or folders of videos."),
    emotion: Optional[str] = typer.Option(
        None, "--emotion", "-e",
        help="angry | contempt | disgusted | fear | happy | neutral | sad | surprised  [default: happy]"),
    intensity: Optional[float] = typer.Option(
        None, "--intensity", "-i", help="0 = unchanged, 1 = full, >1 exaggerated.  [default: 1.0]"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output file (one input only)."),
    out_dir: Optional[Path] = typer.Option(
        None, "--out-dir", help="Folder for the outputs.  [default: beside each input]"),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="auto | neural | warp  [default: auto: neural when weights are found]"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Generator weights (.safetensors)."),
    prototypes: Optional[Path] = typer.Option(
        None, "--prototypes", help="Warp-engine prototypes (JSON; see weights/PROTOTYPES.md)."),
    start: Optional[float] = typer.Option(None, "--start", help="Edit from this time (s) on."),
    end: Optional[float] = typer.Option(None, "--end", help="Edit up to this time (s)."),
    face: Optional[int] = typer.Option(None, "--face", help="Which face when several: 0 = largest."),
    tracker: Optional[str] = typer.Option(None, "--tracker", help="auto | fan | dlib"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N | mps"),
    preview: bool = typer.Option(False, "--preview", help="Also write <output>.preview.png (before/after)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    config: Optional[Path] = CONFIG_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Change the emotion on the face in each video and keep the lip motion.

    Outputs are written as <stem>.<emotion>.mp4 beside each input (or in --out-dir), with the
    input's audio, frame rate, size and frame count. Inputs are never modified.

    Examples:

      stccl edit talk.mp4 --emotion happy

      stccl edit talk.mp4 -e sad --intensity 0.6 --start 2 --end 6 -o talk_sad.mp4

      stccl edit clips/ -e angry --out-dir edited/ --engine warp
    """
    given: dict = {k: v for k, v in dict(emotion=emotion, intensity=intensity, engine=engine,
                                         start=start, end=end, device=device).items() if v is not None}
    if weights is not None:
        given["weights"] = str(weights)
    if prototypes is not None:
        given["prototypes"] = str(prototypes)
    if overwrite:
        given["overwrite"] = True
    track = {k: v for k, v in dict(tracker=tracker, face=face).items() if v is not None}
    if track:
        given["track"] = track
    cfg: EditConfig = resolve_config(EditConfig(), config, given)
    check_emotion(cfg.emotion)
    files = _expand(inputs)
    if out is not None and len(files) > 1:
        raise InputError("-o/--out takes one input; use --out-dir for several")
    if out_dir is not None:
        ensure_writable_dir(out_dir)
    editor = Editor(config=cfg)
    results = _run(editor, files, out, out_dir, cfg, preview)
    if len(files) == 1 and results[0][1] is not None:
        raise StcclError(results[0][1])
    _print_summary(results)
    if any(err for _, err, _ in results):
        raise typer.Exit(1)


def _expand(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS
                           and f.is_file() and not is_edit_output(f) and not f.name.startswith("."))
            if not found:
                raise InputError(f"no video files in {p}")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"input not found: {p}")
    return files


def _run(editor: Editor, files: list[Path], out: Path | None, out_dir: Path | None,
         cfg: EditConfig, preview: bool):
    results = []
    progress = make_progress(transient=True)  # the summary table replaces the bars
    overall = progress.add_task("files", total=len(files), visible=len(files) > 1)
    try:
        for src in files:
            try:
                probe(src)  # bad files fail here, before any bar or notice is shown
                if not progress.live.is_started:
                    if editor.notice:
                        console.print(f"[yellow]note:[/] {editor.notice}", highlight=False)
                    progress.start()
                results.append((src, None, _edit_one(editor, src, out, out_dir, cfg, preview, progress)))
            except StcclError as e:
                results.append((src, one_line(e), None))
                if len(files) > 1:
                    progress.console.print(f"[red]failed[/] {src}: {one_line(e)}", highlight=False)
            progress.advance(overall)
    finally:
        if progress.live.is_started:
            progress.stop()
    return results


def _edit_one(editor, src, out, out_dir, cfg, preview, progress):
    target = out or default_output(src, cfg.emotion, out_dir)
    task = progress.add_task(f"  {src.name}", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    summary = editor.edit(src, out=target, on_progress=on_progress)
    progress.update(task, completed=summary.frames, total=summary.frames)
    if preview:
        write_preview(src, target, target.with_suffix(".preview.png"))
    return summary


def _print_summary(results) -> None:
    table = Table(title="stccl edit")
    for col in ("input", "output", "frames", "face", "edited", "fps", "status"):
        table.add_column(col, justify="right" if col in ("frames", "face", "edited", "fps") else "left")
    for src, err, s in results:
        if err:
            table.add_row(src.name, "-", "-", "-", "-", "-", f"[red]failed[/]: {err}")
            continue
        face = f"{100 * s.face_frames / max(s.frames, 1):.0f}%"
        status = "ok" if s.frames >= s.expected_frames else f"[yellow]ok, {s.frames}/{s.expected_frames} frames read[/]"
        table.add_row(src.name, Path(s.output).name, str(s.frames), face, str(s.edited_frames),
                      f"{s.fps:.1f}", status)
    console.print(table)
