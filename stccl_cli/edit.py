"""`stccl edit`: re-express talking-face videos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from stccl.config import EditConfig, face_choice, overlay
from stccl.edit.outputs import default_output, is_edit_output
from stccl.errors import InputError, StcclError
from stccl.fs import VIDEO_EXTENSIONS, ensure_writable_dir

from .common import CONFIG_OPTION, VERBOSE_OPTION, ConfigOptions, cli_errors, console, make_progress, one_line

opt = ConfigOptions(EditConfig)
UNCHANGED_EXIT = 3  # no input failed, but at least one came out unchanged (the edit eased out everywhere)


@cli_errors
def edit(
    inputs: list[Path] = typer.Argument(..., help="Video files, or folders of videos."),
    emotion: Optional[str] = opt("emotion", "--emotion", "-e",
                                 help="angry | contempt | disgusted | fear | happy | neutral | sad | surprised "
                                      "(any case; the output is named in lower case); or a plan "
                                      "EMOTION[:INTENSITY]@START-END,... in seconds (END empty = to the end; "
                                      "output <stem>.plan.mp4), or @plan.toml"),
    intensity: Optional[float] = opt("intensity", "--intensity", "-i"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output file (one input only)."),
    out_dir: Optional[Path] = typer.Option(
        None, "--out-dir", help="Folder for the outputs (default: beside each input)."),
    engine: Optional[str] = opt("engine", "--engine"),
    weights: Optional[Path] = opt("weights", "--weights"),
    prototypes: Optional[Path] = opt("prototypes", "--prototypes"),
    regions: Optional[str] = opt("regions", "--regions"),
    relative: bool = opt("relative", "--relative"),
    start: Optional[float] = opt("start", "--start"),
    end: Optional[float] = opt("end", "--end"),
    face: Optional[str] = typer.Option(
        None, "--face", help="Which face to edit when several: a whole number >= 0 (0 = the largest at the start, "
                             "1 = the next, ...), or all (every face, each followed on its own).  \\[default: 0]"),
    tracker: Optional[str] = opt("track.tracker", "--tracker"),
    device: Optional[str] = opt("device", "--device"),
    codec: Optional[str] = opt("codec", "--codec"),
    crf: Optional[int] = opt("crf", "--crf"),
    preview: bool = typer.Option(False, "--preview", help="Also write <output>.preview.png (before/after)."),
    compare: bool = typer.Option(False, "--compare",
                                 help="Also write <output stem>.compare.mp4: input and output side by side, "
                                      "labelled, with the input's audio."),
    overwrite: bool = opt("overwrite", "--overwrite"),
    config: Optional[Path] = CONFIG_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Change the emotion on the face in each video and keep the lip motion.

    Outputs are written as <stem>.<emotion>.mp4 beside each input (or in --out-dir), with the
    input's audio, frame rate, size and frame count. Inputs are never modified.

    The target replaces the expression the face shows (read from its landmarks, column
    "shown"): neutral removes it, and --intensity 0.5 goes halfway from it to the target.
    --relative adds the target on top instead (warp engine).

    Examples:

      stccl edit talk.mp4 --emotion happy

      stccl edit talk.mp4 -e sad --intensity 0.6 --start 2 --end 6 -o talk_sad.mp4

      stccl edit clips/ -e angry --out-dir edited/ --engine warp

      stccl edit smiling.mp4 -e neutral

      stccl edit talk.mp4 -e "happy@0-6,sad:0.7@6-12" --compare

      stccl edit talk.mp4 -e surprised --regions upper --codec prores -o talk.mov

      stccl edit interview.mp4 -e happy --face all
    """
    cfg: EditConfig = opt.resolve(EditConfig(), config, locals())
    if face is not None:
        cfg = _with_face(cfg, face)
    found = _expand(inputs)
    if out is not None and len(found) > 1:
        raise InputError("-o/--out takes one input; use --out-dir for several")
    if out_dir is not None:
        ensure_writable_dir(out_dir)
    if out is not None:
        from stccl.video.writer import codec_for

        codec_for(out, cfg.codec)  # a codec the container cannot hold: one line, before any work
    targets = {src: out or default_output(src, cfg.emotion, out_dir / sub if out_dir else None, cfg.codec)
               for src, sub in found}
    _check_clashes(targets)
    from stccl.edit.editor import Editor  # here, not at the top: `stccl --version` imports no torch

    editor = Editor(config=cfg)
    results = _run(editor, targets, cfg, preview, compare, make_dirs=out_dir is not None)
    if len(targets) == 1 and results[0][1] is not None:
        raise StcclError(results[0][1])
    _print_summary(results, every_face=cfg.faces == "all")
    if any(err for _, err, _ in results):
        raise typer.Exit(1)
    if any(s.unchanged for _, _, s in results):
        raise typer.Exit(UNCHANGED_EXIT)


def _with_face(cfg: EditConfig, face: str) -> EditConfig:
    """`cfg` with --face set: an index ([track] face) or all (`faces`)."""
    try:
        return overlay(cfg, face_choice(face), "option", names={"track.face": "--face", "faces": "--face"})
    except InputError as e:
        raise InputError(f"--face {e}") from None


def _expand(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """(video, its folder relative to the folder given) for every input: a folder's videos,
    sub-folders included (kept under --out-dir), or a file (relative folder ".")."""
    files: list[tuple[Path, Path]] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS
                           and f.is_file() and not is_edit_output(f) and not f.name.startswith("."))
            if not found:
                raise InputError(f"no video files in {p}")
            files += [(f, f.parent.relative_to(p)) for f in found]
        elif p.exists():
            files.append((p, Path(".")))
        else:
            raise InputError(f"input not found: {p}")
    return files


def _check_clashes(targets: dict[Path, Path]) -> None:
    """Two inputs that would be written to one output: one line, before any work."""
    seen: dict[Path, Path] = {}
    for src, target in targets.items():
        key = target.absolute()
        if key in seen:
            raise InputError(f"{seen[key]} and {src} would both be written to {target}; "
                             "edit them in separate runs or give their folder (--out-dir keeps sub-folders)")
        seen[key] = src


def _run(editor, targets: dict[Path, Path], cfg: EditConfig, preview: bool, compare: bool, make_dirs: bool):
    from stccl.video.probe import probe

    results = []
    progress = make_progress(transient=True)  # the summary table replaces the bars
    overall = progress.add_task("files", total=len(targets), visible=len(targets) > 1)
    try:
        for src, target in targets.items():
            try:
                probe(src)  # bad files fail here, before any bar or notice is shown
                if not progress.live.is_started:
                    if editor.notice:
                        console.print(f"[yellow]note:[/] {editor.notice}", highlight=False)
                    progress.start()
                if make_dirs:  # --out-dir's sub-folders, as the inputs' folders have them
                    ensure_writable_dir(target.parent)
                results.append((src, None, _edit_one(editor, src, target, cfg, preview, compare, progress)))
            except StcclError as e:
                results.append((src, one_line(e), None))
                if len(targets) > 1:
                    progress.console.print(f"[red]failed[/] {src}: {one_line(e)}", highlight=False)
            progress.advance(overall)
    finally:
        if progress.live.is_started:
            progress.stop()
    return results


def _edit_one(editor, src, target, cfg, preview, compare, progress):
    png = target.with_suffix(".preview.png")
    redo = cfg.overwrite or not editor.made_before(src, target)
    if preview and png.exists() and redo:
        raise InputError(f"{png} exists; pass --overwrite to replace it")
    task = progress.add_task(f"  {src.name}", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    summary = editor.edit(src, out=target, compare=compare, on_progress=on_progress)
    progress.update(task, completed=summary.frames, total=summary.frames)
    if preview and (redo or not png.exists()):
        from stccl.edit.preview import write_preview

        write_preview(src, target, png, overwrite=cfg.overwrite)
    return summary


def _status(s) -> str:
    """'ok', 'ok, ...' in yellow with what the read had to work around, 'unchanged' where the
    edit eased out on every frame, 'ok (done before)' for an earlier run's output."""
    if s.done_before:
        return "ok (done before)"
    if s.unchanged:
        return "[yellow]unchanged[/] (eased out on every frame)"
    notes = []
    if s.frames < s.expected_frames:
        notes.append(f"{s.frames}/{s.expected_frames} frames read")
    if s.repeated_frames:
        notes.append(f"{s.repeated_frames} frames repeated to keep sync")
    if s.dropped_frames:
        notes.append(f"{s.dropped_frames} frames dropped to keep sync")
    if s.short:
        notes.append(f"{s.frames / s.frame_rate:.2f} of {s.header_seconds:.2f} s decoded")
    return "ok" if not notes else f"[yellow]ok, {escape(', '.join(notes))}[/]"


def _print_summary(results, every_face: bool = False) -> None:
    """The table of edits; with `--face all`, a column of how many faces each edit changed."""
    table = Table(title="stccl edit")
    cols = ("input", "output", "frames", "face", *(("faces",) if every_face else ()), "edited", "shown",
            "fps", "status")
    for col in cols:
        table.add_column(col, justify="right" if col in ("frames", "face", "faces", "edited", "fps") else "left")
    for src, err, s in results:
        if err:
            table.add_row(src.name, *["-"] * (len(cols) - 2), f"[red]failed[/]: {err}")
            continue
        if s.done_before:  # nothing was measured this time
            table.add_row(src.name, Path(s.output).name, str(s.frames), *["-"] * (len(cols) - 4), _status(s))
            continue
        face = f"{100 * s.face_frames / max(s.frames, 1):.0f}%"
        faces = (str(s.faces),) if every_face else ()
        table.add_row(src.name, Path(s.output).name, str(s.frames), face, *faces, str(s.edited_frames),
                      s.shown_label, f"{s.fps:.1f}", _status(s))
    console.print(table)
    for src, err, s in results:
        if not err and s.turned_frames:
            console.print(f"[yellow]note[/]: {escape(src.name)}: the edit faded on {s.turned_frames} of "
                          f"{s.frames} frames, where the head is turned too far for it", highlight=False)
        if not err and s.unsure_frames:
            console.print(f"[yellow]note[/]: {escape(src.name)}: the edit eased out on {s.unsure_frames} of "
                          f"{s.frames} frames, where the landmarks are unsure of the mouth (small, blurred "
                          "or turned face)", highlight=False)
