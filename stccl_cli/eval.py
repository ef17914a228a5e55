"""`stccl eval`: metrics of one edit, or the papers' protocol on a prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from stccl.devices import require_device
from stccl.errors import InputError
import stccl.eval  # evaluate_pair and run_protocol load lazily: `stccl --version` imports no torch
from stccl.eval import EvalConfig
from stccl.eval.metrics import KEY_METRICS, METRICS

from .common import (CONFIG_OPTION, VERBOSE_OPTION, ConfigOptions, cli_errors, console, csv, err_console,
                     make_progress)


opt = ConfigOptions(EvalConfig)
PAIR_ONLY = ("emotion", "reference")  # options of one edit, not of a protocol run
PROTOCOL_ONLY = ("protocol", "engines", "weights", "weights_no_stccl", "emotions", "clips_per_actor", "real_frames")


@cli_errors
def evaluate(
    input: Optional[Path] = typer.Argument(None, help="The video before the edit."),
    edited: Optional[Path] = typer.Argument(None, help="The same video after the edit (same frames)."),
    emotion: Optional[str] = opt("emotion", "--emotion", "-e"),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON result to stdout."),
    tracker: Optional[str] = opt("tracker", "--tracker"),
    classifier: Optional[Path] = opt("scoring.classifier", "--classifier"),
    arcface: Optional[Path] = opt("scoring.arcface", "--arcface"),
    arcface18: Optional[Path] = opt("scoring.arcface18", "--arcface18"),
    syncnet: Optional[Path] = opt("scoring.syncnet", "--syncnet"),
    expression: Optional[Path] = opt("scoring.expression", "--expression"),
    reference: Optional[Path] = opt("reference", "--reference"),
    prototypes: Optional[Path] = opt("prototypes", "--prototypes"),
    max_frames: Optional[int] = opt("max_frames", "--max-frames"),
    device: Optional[str] = opt("device", "--device"),
    data: Optional[Path] = typer.Option(None, "--data", help="A prepared dataset: run the protocol on it."),
    protocol: Optional[str] = opt("protocol", "--protocol"),
    engines: Optional[str] = opt("engines", "--engines", parse=csv),
    weights: Optional[Path] = opt("weights", "--weights"),
    weights_no_stccl: Optional[Path] = opt("weights_no_stccl", "--weights-no-stccl"),
    emotions: Optional[str] = opt("emotions", "--emotions", parse=csv),
    clips_per_actor: Optional[int] = opt("clips_per_actor", "--clips-per-actor"),
    real_frames: Optional[int] = opt("real_frames", "--real-frames"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output folder of a protocol run."),
    overwrite: bool = opt("overwrite", "--overwrite"),
    config: Optional[Path] = CONFIG_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Measure what an edit did: lip sync kept, expression changed, background kept.

    With INPUT and EDITED: both videos are tracked with the same tracker and compared frame by
    frame; by default that reader is not the tracker that drove the edit (see --tracker).
    Metrics that need third-party weights (FAD, identity, expression similarity, LSE) run only
    when their weights are given; the output says which weights were used.

    With --data: the papers' protocol on a prepared dataset. MEAD test actors M003 M009 W029
    M012 M030 W015 (RAVDESS: Actor_01-06), cross-ID map M003<-W015, M009<-M003, W029<-M009,
    M012<-W029, M030<-M012, W015<-M030. Each test actor's neutral clips are edited into every
    target emotion by each engine: warp; neural (--weights); neural without STCCL
    (--weights-no-stccl); --engines names them instead (any registered engine). Writes OUT/eval.json, OUT/eval.md, OUT/eval.png. See docs/eval.md.

    Examples:

      stccl eval talk.mp4 talk.happy.mp4

      stccl eval talk.mp4 edited.mp4 --emotion sad --json > metrics.json

      stccl eval talk.mp4 talk.angry.mp4 --arcface r50.pth --syncnet sync.model

      stccl eval --data prep/ -o ev/ --protocol mead-cross --weights g.safetensors

      stccl eval --data prep -o ev --weights g.safetensors --weights-no-stccl g0.safetensors
    """
    given = opt.given(locals())
    cfg: EvalConfig = opt.resolve(EvalConfig(), config, locals())
    require_device(cfg.device)  # a missing GPU is one line, before any video is read
    if data is not None:
        if input is not None or edited is not None:
            raise InputError("give either INPUT EDITED or --data PREP, not both")
        _only_for("--data runs", given, PAIR_ONLY)
        if out is None:
            raise InputError("--data needs -o OUT_DIR for eval.json, eval.md and eval.png")
        result = _with_progress("protocol", lambda p: stccl.eval.run_protocol(data, out, cfg, p))
        _warn(result)
        if json_out:
            typer.echo(json.dumps(result))
        else:
            _print_protocol(result)
        return
    if input is None or edited is None:
        raise InputError("give INPUT and EDITED (or --data PREP -o OUT_DIR for a protocol run)")
    _only_for("INPUT EDITED", given, PROTOCOL_ONLY)
    if out is not None:
        raise InputError("-o/--out cannot be used with INPUT EDITED")
    result = _with_progress("frames", lambda p: stccl.eval.evaluate_pair(input, edited, cfg, p))
    _warn(result)
    if json_out:
        typer.echo(json.dumps(result))
    else:
        _print_pair(result)


def _warn(result: dict) -> None:
    """The result's warning (an edit read by its own tracker), one line on stderr."""
    if result.get("warning"):
        err_console.print(f"[yellow]warning:[/] {escape(result['warning'])}", highlight=False, soft_wrap=True)


def _only_for(form: str, given: dict, keys: tuple[str, ...]) -> None:
    wrong = [opt.names()[k] for k in keys if k in given]
    if wrong:
        raise InputError(f"{', '.join(wrong)} cannot be used with {form}")


def _with_progress(label: str, run):
    progress = make_progress(transient=True)
    task = progress.add_task(label, total=None)

    def on_progress(done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        return run(on_progress)
    finally:
        if progress.live.is_started:
            progress.stop()


def _print_pair(r: dict) -> None:
    from stccl.eval.reader import reader_line
    from stccl.eval.report import fmt

    f = r["frames"]
    console.print(f"[bold]{escape(Path(r['input']).name)}[/] -> [bold]{escape(Path(r['edited']).name)}[/]  "
                  f"target: {r['emotion'] or '?'}  frames compared: {f['compared']} "
                  f"(face in both: {f['both_face']})", highlight=False)
    console.print(f"reader: {escape(reader_line(r['tracker'], r['tracked_by']))}", highlight=False)
    table = Table(title="stccl eval")
    for col, just in (("metric", "left"), ("value", "right"), ("unit", "left"), ("better", "left"),
                      ("note", "left")):
        table.add_column(col, justify=just)
    for name, m in METRICS.items():
        better = "" if m.better == "info" else m.better
        if name in r["skipped"]:
            table.add_row(m.label, "–", m.unit, better, f"[dim]skipped: {escape(r['skipped'][name])}[/]")
        elif name in r["metrics"]:
            table.add_row(m.label, fmt(r["metrics"][name]), m.unit, better, "")
    console.print(table)
    console.print(f"real set (FAD, expression similarity): {escape(r['real_set'])}", highlight=False)
    w = Table(title="weights used", show_header=False)
    w.add_column("model")
    w.add_column("path")
    for k, v in r["weights"].items():
        w.add_row(k, escape(v))
    console.print(w)


def _print_protocol(r: dict) -> None:
    from stccl.eval.reader import reader_line
    from stccl.eval.report import ARROW, fmt

    keys = [k for k in KEY_METRICS if any(t["avg"].get(k) is not None for t in r["table"].values())]
    table = Table(title=f"stccl eval {r['protocol']}: mean over {', '.join(r['emotions'])}")
    table.add_column("engine", no_wrap=True)
    for k in keys:
        table.add_column(f"{METRICS[k].label} {ARROW[METRICS[k].better]}".strip(), justify="right")
    for eng, t in r["table"].items():
        table.add_row(eng, *[fmt(t["avg"].get(k)) for k in keys])
    console.print(table)
    console.print(f"reader: {escape(reader_line(r['tracker'], r['tracked_by'], 'the edits were'))}",
                  highlight=False)
    for note in r["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for k, why in r["skipped"].items():
        console.print(f"[dim]skipped {METRICS[k].label if k in METRICS else k}: {escape(why)}[/]", highlight=False)
    console.print(f"wrote {escape(r['files']['json'])}, {escape(r['files']['markdown'])}, "
                  f"{escape(r['files']['chart'])}", highlight=False, soft_wrap=True)
