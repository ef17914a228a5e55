"""Edits measured against the real thing: each real cross-emotion take of mead-pairs (W009 and
M030, sentence 001 in all 8 emotions) edited to a target emotion, and its mean face compared
with the same actor's real take of that target.

    python -m benchmarks.real_targets [--targets neutral,happy,sad,surprised,angry]
                                      [--modes absolute,relative] [--rows]

The distance is between mean shapes over each clip (`mean_shape`: brows, eyes, upper lip and
corners, normalised and seen from the front by stccl.edit.expression; the lower lip and the jaw
follow the speech), in inter-ocular distances. The same sentence is spoken in both takes, so
the mean mouth is comparable. Landmarks are read afresh on every frame (stccl.face.fresh).
Nothing here is fitted: M030 is one of the MEAD test actors, and the warp engine's prototypes
were fitted on neither actor. Prints one markdown table (docs/edit.md). Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from stccl import Editor
from stccl.edit.expression import EXPRESSIVE
from stccl.edit.warp import load_expression_model
from stccl.face import make_backend
from stccl.face.fresh import read_landmarks

from .common import SHARED

PAIRS = SHARED / "mead-pairs"
ACTORS = ("W009", "M030")
# brows, eyes, upper lip and corners
POINTS = np.r_[17:27, 36:48, 48:55, 60:65]


def take(actor: str, emotion: str) -> Path:
    """The real take of `actor` saying sentence 001 with `emotion` (neutral: level 1, else 3)."""
    return PAIRS / f"{actor}_level_{1 if emotion == 'neutral' else 3}_{emotion}_001.mp4"


def mean_shape(lmk: np.ndarray, model) -> np.ndarray:
    """(N,68,2) landmarks -> (K,2) mean of POINTS over the frames with a face, normalised (eye
    centres at (+-0.5, 0)) and seen from the front by `model` (an ExpressionModel)."""
    lmk = lmk[np.isfinite(lmk).all((1, 2))]
    return model.canonical(lmk)[:, POINTS].mean(0)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean point distance (IOD) between two mean shapes."""
    return float(np.linalg.norm(a - b, axis=-1).mean())


def measure(targets: list[str], modes: list[str], folder: Path, backend=None) -> list[dict]:
    """One row per (actor, source emotion, target, mode): the distance of the source take's mean
    shape to the real target take's, before and after the edit."""
    backend = backend or make_backend("dlib")
    model = load_expression_model()
    shapes: dict[Path, np.ndarray] = {}

    def shape_of(path: Path) -> np.ndarray:
        if path not in shapes:
            shapes[path] = mean_shape(read_landmarks(path, backend), model)
        return shapes[path]

    editors = {mode: Editor(engine="warp", relative=mode == "relative") for mode in modes}
    rows = []
    for actor in ACTORS:
        for source in EXPRESSIVE:
            for target in targets:
                if target == source:
                    continue
                real = shape_of(take(actor, target))
                before = distance(shape_of(take(actor, source)), real)
                for mode, editor in editors.items():
                    out = folder / f"{actor}.{source}.{target}.{mode}.mp4"
                    editor.edit(take(actor, source), emotion=target, out=out, overwrite=True)
                    after = distance(mean_shape(read_landmarks(out, backend), model), real)
                    rows.append({"actor": actor, "source": source, "target": target, "mode": mode,
                                 "before": before, "after": after})
    return rows


def table(rows: list[dict]) -> str:
    """Per target and mode: mean distance before and after, and on how many takes it got nearer."""
    lines = ["| target | edit | takes | distance to the real take before | after | change | nearer on |",
             "|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["mode"]), []).append(r)
    for (target, mode), rs in groups.items():
        before = np.mean([r["before"] for r in rs])
        after = np.mean([r["after"] for r in rs])
        nearer = sum(r["after"] < r["before"] for r in rs)
        lines.append(f"| {target} | {mode} | {len(rs)} | {before:.4f} | {after:.4f} | "
                     f"{(after - before) / before:+.0%} | {nearer}/{len(rs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="neutral,happy,sad,surprised,angry")
    ap.add_argument("--modes", default="absolute,relative")
    ap.add_argument("--rows", action="store_true", help="also print every take's figures")
    args = ap.parse_args(argv)
    if not PAIRS.is_dir():
        raise SystemExit(f"real pairs not found: {PAIRS} (needs ../shared/data)")
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args.targets.split(","), args.modes.split(","), Path(tmp))
    if args.rows:
        for r in rows:
            print(f"{r['actor']} {r['source']} -> {r['target']} ({r['mode']}): "
                  f"{r['before']:.4f} -> {r['after']:.4f}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
