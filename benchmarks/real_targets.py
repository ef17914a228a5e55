"""Edits measured against the real thing: each real cross-emotion take of an actor edited to a
target emotion, and its mean face compared with the same actor's real take of that target.

    python -m benchmarks.real_targets [--pairs DIR] [--actors W009,...] [--arms warp,meshwarp]
                                      [--readers dlib,facemesh] [--modes absolute]
                                      [--sources happy,...] [--targets neutral,happy,sad,surprised,angry]
                                      [--facemesh-python PATH] [--rows] [--json PATH]

The takes are the videos of `--pairs` (default ../shared/data/mead-pairs: W009 and M030 saying
sentence 001 in all 8 emotions) named `<actor>_level_<k>_<emotion>_<NNN>.mp4`; other names
are ignored. For each actor and sentence the take of an emotion is its highest level (neutral:
its lowest). Each source take (default: every expressive emotion the actor has) is edited to
each target by every arm (`--arms`: engines, each an `stccl.Editor(engine=NAME)`, in every
`--modes` mode; by default `warp`, the 68-point landmark warp, and `meshwarp`, the mesh warp,
those of them registered) once, into a temporary folder, and each edit is read by every
reader. An emotion or a target an actor lacks is skipped with a note.

The distance is between mean shapes over each clip (`mean_shape`: brows, eyes, upper lip and
corners, normalised and seen from the front by the shipped 68-point ExpressionModel, the same
for every arm; the lower lip and the jaw follow the speech), in inter-ocular distances. The
same sentence is spoken in both takes, so the mean mouth is comparable. The landmarks are read
by readers that did not drive the edit (the edit tracks with the project's own tracker, the
shipped 468-point mesh by default), each on every frame afresh:

- `dlib`: dlib's HOG/CNN detectors and 68-point predictor (stccl.face.fresh.read_landmarks);
- `facemesh`: MediaPipe's attention mesh (478 points, refine_landmarks), in its own venv
  (benchmarks/facemesh_landmarks.py, run by `--facemesh-python`, else $STCCL_FACEMESH_PYTHON,
  else .venv-facemesh/bin/python at the repository root; skipped with a note when missing).
  Its 68-point view sits a little off dlib's, but the edit and the real take are read by the
  same reader, so that cancels in the distance; each reader gets its own table.

Nothing here is fitted, but mind what the arms were fitted on: the 68-point warp's prototypes
are FACS, though the mouth of its expression-free prior comes partly from W009's neutral take
of mead-pairs (`prior_source` in its prototypes file); the mesh warp's unit magnitudes were
fitted on MEAD W009. W009's figures are therefore in-sample; M030, one of the MEAD test
actors, is the held-out check. Prints one markdown table per reader (docs/benchmarks.md) and, with two arms or
more, which arm lands nearer per target; `--json` writes every row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stccl.edit.expression import EXPRESSIVE
from stccl.emotions import EMOTIONS

from .common import ROOT, SHARED

PAIRS = SHARED / "mead-pairs"
TAKE = re.compile(r"(?P<actor>[A-Za-z0-9]+)_level_(?P<level>\d+)_(?P<emotion>[a-z]+)_(?P<sentence>\d+)\.mp4")
TARGETS = ("neutral", "happy", "sad", "surprised", "angry")
ARMS = ("warp", "meshwarp")
MODES = ("absolute", "relative")
READERS = ("dlib", "facemesh")
FACEMESH_ENV = "STCCL_FACEMESH_PYTHON"
FACEMESH_DEFAULT = ROOT / ".venv-facemesh" / "bin" / "python"
FACEMESH_SCRIPT = Path(__file__).with_name("facemesh_landmarks.py")
# brows, eyes, upper lip and corners
POINTS = np.r_[17:27, 36:48, 48:55, 60:65]


def find_takes(folder: Path) -> dict[str, dict[str, dict[str, Path]]]:
    """{actor: {sentence: {emotion: take}}} of the videos in `folder` named
    `<actor>_level_<k>_<emotion>_<NNN>.mp4` (an emotion of stccl.emotions); other names are
    ignored. Of several levels of one emotion: the highest, or for neutral the lowest."""
    found: dict[str, dict[str, dict[str, tuple[int, Path]]]] = {}
    for path in sorted(Path(folder).iterdir()):
        m = TAKE.fullmatch(path.name)
        if m is None or m["emotion"] not in EMOTIONS or not path.is_file():
            continue
        level = int(m["level"])
        emotions = found.setdefault(m["actor"], {}).setdefault(m["sentence"], {})
        have = emotions.get(m["emotion"])
        if have is None or (level < have[0] if m["emotion"] == "neutral" else level > have[0]):
            emotions[m["emotion"]] = (level, path)
    return {actor: {s: {e: p for e, (_, p) in sorted(es.items())} for s, es in sorted(sentences.items())}
            for actor, sentences in sorted(found.items())}


def expression_model68():
    """The shipped 68-point ExpressionModel (the FACS prototypes of stccl/edit/data/prototypes.json),
    whatever engine the arms use: every arm is measured by the same one, never by its engine's own."""
    from stccl.edit.facs import PACKAGED
    from stccl.edit.warp import load_expression_model

    return load_expression_model(PACKAGED)


def mean_shape(lmk: np.ndarray, model) -> np.ndarray:
    """(N,68,2) landmarks -> (K,2) mean of POINTS over the frames with a face, normalised (eye
    centres at (+-0.5, 0)) and seen from the front by `model` (an ExpressionModel); NaN when no
    frame has a face."""
    lmk = lmk[np.isfinite(lmk).all((1, 2))]
    if not len(lmk):
        return np.full((len(POINTS), 2), np.nan)
    return model.canonical(lmk)[:, POINTS].mean(0)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean point distance (IOD) between two mean shapes."""
    return float(np.linalg.norm(a - b, axis=-1).mean())


def facemesh_python(explicit: str | Path | None = None) -> Path:
    """--facemesh-python, else $STCCL_FACEMESH_PYTHON, else .venv-facemesh/bin/python at the
    repository root (not resolved: a venv's python is a link that must keep its path)."""
    return Path(explicit or os.environ.get(FACEMESH_ENV) or FACEMESH_DEFAULT)


def read_facemesh(paths: list[Path], python: Path) -> dict[Path, np.ndarray]:
    """(frames, 68, 2) landmarks of each video by MediaPipe's attention mesh, in one run of
    benchmarks/facemesh_landmarks.py under `python` (its own venv)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "facemesh.npz"
        r = subprocess.run([str(python), str(FACEMESH_SCRIPT), "-o", str(out), *map(str, paths)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"facemesh reader failed ({python}, exit {r.returncode}): {tail}")
        with np.load(out) as saved:
            return {path: saved[f"v{k}"] for k, path in enumerate(paths)}


def reader_function(name: str, backend=None, python: Path | None = None) -> Callable[[list[Path]], dict]:
    """The reader `name` as a function: videos -> {video: (frames, 68, 2) landmarks}."""
    if name == "facemesh":
        return lambda paths: read_facemesh(paths, python or facemesh_python())
    from stccl.face import make_backend
    from stccl.face.fresh import read_landmarks

    backend = backend or make_backend("dlib")
    return lambda paths: {path: read_landmarks(path, backend) for path in paths}


def plan(takes: dict, actors: list[str], sources: list[str] | None, targets: list[str],
         say: Callable[[str], None] = print) -> list[dict]:
    """The (actor, sentence, source, target) edits to make, with the source and real target
    takes; what an actor lacks is skipped with a note."""
    jobs = []
    for actor in actors:
        if actor not in takes:
            say(f"note: no takes of {actor}: skipped")
            continue
        for sentence, have in takes[actor].items():
            where = f"{actor} sentence {sentence}"
            wanted = sources if sources is not None else [e for e in EXPRESSIVE if e in have]
            missing = [e for e in dict.fromkeys(wanted + targets) if e not in have]
            if missing:
                say(f"note: {where} has no {', '.join(missing)} take: skipped")
            for source in wanted:
                for target in targets:
                    if source != target and source in have and target in have:
                        jobs.append({"actor": actor, "sentence": sentence, "source": source,
                                     "target": target, "input": have[source], "real": have[target]})
    return jobs


def measure(targets: list[str], modes: list[str], folder: Path, backend=None, *,
            pairs: Path = PAIRS, actors: list[str] | None = None, sources: list[str] | None = None,
            arms: list[str] = ("warp",), readers: list[str] = ("dlib",),
            facemesh: Path | None = None, say: Callable[[str], None] = print) -> list[dict]:
    """One row per (reader, actor, sentence, source, target, arm, mode): the distance of the
    source take's mean shape to the real target take's, before and after the edit (IOD).
    `backend`: the dlib backend to read with (built when None); the edits go to `folder`,
    each made once and read by every reader."""
    from stccl import Editor

    takes = find_takes(pairs)
    jobs = plan(takes, list(takes) if actors is None else list(actors), sources, list(targets), say)
    if not jobs:
        raise SystemExit(f"nothing to measure in {pairs}: no actor has both a source and a target take")
    edited: dict[tuple, Path] = {}
    total = len(jobs) * len(arms) * len(modes)
    for arm in arms:
        for mode in modes:
            editor = Editor(engine=arm, relative=mode == "relative")
            for job in jobs:
                out = Path(folder) / f"{job['actor']}_{job['sentence']}.{job['source']}.{job['target']}.{arm}.{mode}.mp4"
                editor.edit(job["input"], emotion=job["target"], out=out, overwrite=True)
                edited[(job["actor"], job["sentence"], job["source"], job["target"], arm, mode)] = out
                print(f"edited {len(edited)}/{total}: {out.name}", file=sys.stderr, flush=True)
    model = expression_model68()
    rows = []
    for reader in readers:
        videos = list(dict.fromkeys([j["input"] for j in jobs] + [j["real"] for j in jobs] + list(edited.values())))
        print(f"reading {len(videos)} videos with {reader}", file=sys.stderr, flush=True)
        marks = reader_function(reader, backend, facemesh)(videos)
        shapes = {path: mean_shape(lmk, model) for path, lmk in marks.items()}
        for job in jobs:
            real = shapes[job["real"]]
            before = distance(shapes[job["input"]], real)
            for arm in arms:
                for mode in modes:
                    out = edited[(job["actor"], job["sentence"], job["source"], job["target"], arm, mode)]
                    rows.append({"reader": reader, "actor": job["actor"], "sentence": job["sentence"],
                                 "source": job["source"], "target": job["target"], "arm": arm, "mode": mode,
                                 "before": before, "after": distance(shapes[out], real),
                                 "input": job["input"].name, "real": job["real"].name})
    return rows


def _finite(rows: list[dict]) -> list[dict]:
    return [r for r in rows if np.isfinite(r["before"]) and np.isfinite(r["after"])]


def table(rows: list[dict]) -> str:
    """One reader's rows: per target, arm and mode the mean distance before and after, and on
    how many takes it got nearer; then, with two arms or more, which lands nearer per target."""
    lines = ["| target | arm | edit | takes | distance to the real take before | after | change | nearer on |",
             "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["arm"], r["mode"]), []).append(r)
    notes = []
    for (target, arm, mode), rs in groups.items():
        ok = _finite(rs)
        if len(ok) < len(rs):
            notes.append(f"{target}, {arm} {mode}: {len(rs) - len(ok)} take(s) without a face left out")
        if not ok:
            lines.append(f"| {target} | {arm} | {mode} | 0 | – | – | – | – |")
            continue
        before = np.mean([r["before"] for r in ok])
        after = np.mean([r["after"] for r in ok])
        nearer = sum(r["after"] < r["before"] for r in ok)
        lines.append(f"| {target} | {arm} | {mode} | {len(ok)} | {before:.4f} | {after:.4f} | "
                     f"{(after - before) / before:+.0%} | {nearer}/{len(ok)} |")
    arms = compare_arms(rows) if len({r["arm"] for r in rows}) > 1 else []
    lines += [""] + arms if arms else []
    return "\n".join(lines + [f"note: {n}" for n in notes])


def compare_arms(rows: list[dict]) -> list[str]:
    """Per target and mode, the arms' mean distance after the edit on the takes all of them
    measured, nearest first: which lands nearer the real take, by how much, on how many takes."""
    out = []
    key = lambda r: (r["actor"], r["sentence"], r["source"])  # noqa: E731
    by: dict[tuple[str, str], dict[str, dict]] = {}
    for r in _finite(rows):
        by.setdefault((r["target"], r["mode"]), {}).setdefault(r["arm"], {})[key(r)] = r["after"]
    for (target, mode), arms in by.items():
        common = set.intersection(*(set(a) for a in arms.values())) if len(arms) > 1 else set()
        if not common:
            continue
        means = sorted((np.mean([a[k] for k in common]), arm) for arm, a in arms.items())
        (best, first), (second_mean, second) = means[0], means[1]
        wins = sum(arms[first][k] < arms[second][k] for k in common)
        verdict = (f"{first} and {second} tie" if round(second_mean - best, 4) == 0 else
                   f"{first} nearer than {second} by {second_mean - best:.4f} IOD"
                   f" ({(best - second_mean) / second_mean:+.0%})")
        out.append(f"- {target} ({mode}): " + ", ".join(f"{arm} {m:.4f}" for m, arm in means)
                   + f": {verdict}; {first} nearer on {wins}/{len(common)} takes")
    return out


def _names(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise SystemExit(f"unknown {what} {', '.join(bad) or repr(value)}; use {', '.join(allowed)}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=PAIRS,
                    help="folder of <actor>_level_<k>_<emotion>_<NNN>.mp4 takes (default ../shared/data/mead-pairs)")
    ap.add_argument("--actors", help="comma-separated (default: every actor in --pairs)")
    ap.add_argument("--arms", help=f"engines compared (default {','.join(ARMS)}: those registered)")
    ap.add_argument("--modes", default="absolute", help="absolute, relative or both")
    ap.add_argument("--readers", help=f"landmark readers (default {','.join(READERS)}: those available)")
    ap.add_argument("--sources", help="emotions edited from (default: every expressive one an actor has)")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--facemesh-python", type=Path,
                    help=f"python of the facemesh venv (default ${FACEMESH_ENV}, else .venv-facemesh/bin/python)")
    ap.add_argument("--rows", action="store_true", help="also print every take's figures")
    ap.add_argument("--json", type=Path, help="write every row to this file")
    args = ap.parse_args(argv)

    from stccl.registry import ENGINES

    if not args.pairs.is_dir():
        raise SystemExit(f"takes not found: {args.pairs} (the default needs ../shared/data)")
    modes = _names(args.modes, MODES, "mode")
    targets = _names(args.targets, EMOTIONS, "target")
    sources = None if args.sources is None else _names(args.sources, EMOTIONS, "source")
    if args.arms is None:
        arms = [a for a in ARMS if a in ENGINES]
        for a in ARMS:
            if a not in arms:
                print(f"note: no engine {a!r} registered: arm skipped")
        if not arms:
            raise SystemExit(f"none of the default arms ({', '.join(ARMS)}) is a registered engine")
    else:
        arms = _names(args.arms, ENGINES.names(), "arm")
    readers = list(READERS) if args.readers is None else _names(args.readers, READERS, "reader")
    python = facemesh_python(args.facemesh_python)
    if "facemesh" in readers and not python.is_file():
        if readers == ["facemesh"]:
            raise SystemExit(f"facemesh reader: no python at {python} (--facemesh-python or ${FACEMESH_ENV})")
        print(f"note: facemesh reader skipped: no python at {python} (--facemesh-python or ${FACEMESH_ENV})")
        readers.remove("facemesh")
    actors = None if args.actors is None else [a.strip() for a in args.actors.split(",") if a.strip()]

    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(targets, modes, Path(tmp), pairs=args.pairs, actors=actors, sources=sources,
                       arms=arms, readers=readers, facemesh=python)
    for reader in readers:
        mine = [r for r in rows if r["reader"] == reader]
        print(f"\n### read by {reader}\n")
        if args.rows:
            for r in mine:
                print(f"{r['actor']} {r['sentence']} {r['source']} -> {r['target']} ({r['arm']}, {r['mode']}): "
                      f"{r['before']:.4f} -> {r['after']:.4f}")
            print()
        print(table(mine))
    if args.json:
        args.json.write_text(json.dumps({"pairs": str(args.pairs), "arms": arms, "modes": modes,
                                         "readers": readers, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
