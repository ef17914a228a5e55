"""FACS, refit and blended prototypes compared on held-out real pairs; the expression-free prior.

    python -m benchmarks.prototypes [--prep DIR] [--write]
    python -m benchmarks.prototypes --mesh [--prep DIR] [--write]   # the shipped mesh prototypes

The shared real cross-emotion pairs (../shared/data/mead-pairs: W009 and M030, sentence 001 in
all 8 emotions) are prepared as MEAD (or `--prep DIR`, a prepared copy, is reused). Candidates
are fitted on W009 only; M030, one of the MEAD protocol's test actors, checks them:

- `cos`: the cosine, over the 51 non-jaw points, between a candidate prototype and M030's own
  displacement for that emotion (the refit's estimate from M030's pairs: emotional - neutral
  at equal mouth opening). How well the candidate describes an expression of a face it never
  saw; the edit is not tuned on it.
- `err`: |M030's displacement - the prototype| / |M030's displacement|: whether intensity 1
  lands where a real level-3 expression is.

`--write` stores the expression-free prior (`neutral_shape`, `speech_spread`;
stccl.train.prototypes.neutral_prior) in the shipped prototypes file, whose emotions are the
winner's (weights/PROTOTYPES.md). Its mouth is fitted on non-test MEAD actors only: W009's
neutral take, and W036's happy and M026's disgusted takes less their labelled prototype; the
rest of the face is the mean face of dlib's predictor (thousands of identities: three cannot
average out how high a person's brows sit).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from stccl.edit.expression import EXPRESSIVE
from stccl.edit.facs import PACKAGED, facs_prototypes
from stccl.train.prototypes import neutral_prior, refit_prototypes

from .common import SHARED, shared_clip

HELD_OUT = "M030"
# labelled takes of MEAD actors outside the protocol's test set, for more identities in the prior
MORE_IDENTITIES = (("mead/W036_level_3_happy_007.mp4", "happy"), ("mead/M026_level_3_disgusted_018.mp4", "disgusted"))
BLENDS = (0.25, 0.5, 0.75)


def mead_pairs_tree(shared: Path, root: Path) -> Path:
    """The shared real cross-emotion pairs (mead-pairs/<actor>_level_<k>_<emotion>_<NNN>.mp4)
    as symlinks in MEAD's layout, so that `stccl prep` pairs them as it would pair MEAD."""
    for src in sorted((shared / "mead-pairs").glob("*_level_*_*_*.mp4")):
        actor, _, level, emotion, sentence = src.stem.split("_")
        d = root / actor / "video" / "front" / emotion / f"level_{level}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{sentence}.mp4").symlink_to(src)
    return root


def prepare(out: Path, tracker: str = "dlib") -> Path:
    from stccl.config import PrepConfig
    from stccl.data.prep import run_prep

    cfg = PrepConfig()
    cfg.track.tracker = tracker
    run_prep(mead_pairs_tree(SHARED, out / "MEAD"), out / "prep", cfg)
    return out / "prep"


def displacements(protos: dict) -> dict[str, np.ndarray]:
    return {e: np.asarray(protos["emotions"][e]["displacement"], np.float64) for e in EXPRESSIVE}


def scores(candidate: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict[str, dict]:
    keep = np.ones((68, 2))
    keep[0:17] = 0
    out = {}
    for e in EXPRESSIVE:
        p, t = (candidate[e] * keep).ravel(), (truth[e] * keep).ravel()
        out[e] = {"cos": float(p @ t / (np.linalg.norm(p) * np.linalg.norm(t))),
                  "err": float(np.linalg.norm(t - p) / np.linalg.norm(t))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prep", type=Path, help="a prepared copy of mead-pairs to reuse")
    ap.add_argument("--write", action="store_true", help="store the W009 prior in the shipped file")
    ap.add_argument("--mesh", action="store_true", help="fit the mesh prototypes on W009 (prepared with the mesh)")
    args = ap.parse_args(argv)
    if args.mesh:
        return mesh_main(args.prep, args.write)
    from stccl.face import make_backend, track_video
    from stccl.face.backends import dlib_model_path
    from stccl.face.predictor_mean import initial_shape

    facs, backend = displacements(facs_prototypes()), make_backend("dlib")
    with tempfile.TemporaryDirectory() as tmp:
        prep = args.prep or prepare(Path(tmp))
        others = sorted({json.loads(line)["actor"] for line in (prep / "index.jsonl").open()} - {"W009"})
        fitted = refit_prototypes(prep, exclude_actors=others)  # W009 only
        truth = displacements(refit_prototypes(prep, exclude_actors=["W009"]))  # M030 only
        from stccl.data.store import PreparedDataset

        ds = PreparedDataset(prep)
        w009_neutral = [r["id"] for r in ds.ok if r["actor"] == "W009" and r["emotion"] == "neutral"]
        shown = [(track_video(shared_clip(rel), backend)[0], facs[emotion]) for rel, emotion in MORE_IDENTITIES]
        prior = neutral_prior([ds.clip(c).track["landmarks_aligned"] for c in w009_neutral], shown,
                              population=initial_shape(dlib_model_path()))
    refit = displacements(fitted)
    cands = {"facs": facs, "refit (W009)": refit}
    for b in BLENDS:
        cands[f"blend {1 - b:g} facs + {b:g} refit"] = {e: (1 - b) * facs[e] + b * refit[e] for e in EXPRESSIVE}
    print(f"held out: {HELD_OUT}; fitted on W009 ({sum(fitted['pairs'].values())} pairs)\n")
    print("| candidate | mean cos | mean err | " + " | ".join(EXPRESSIVE) + " |")
    print("|---|---|---|" + "---|" * len(EXPRESSIVE))
    best = None
    for name, cand in cands.items():
        s = scores(cand, truth)
        mc, me = np.mean([v["cos"] for v in s.values()]), np.mean([v["err"] for v in s.values()])
        cells = " | ".join(f"{s[e]['cos']:+.2f} / {s[e]['err']:.2f}" for e in EXPRESSIVE)
        print(f"| {name} | {mc:+.2f} | {me:.2f} | {cells} |")
        if best is None or mc > best[1]:
            best = (name, mc)
    print(f"\nbest by mean cos on {HELD_OUT}: {best[0]} (cells: cos / err)")
    if args.write:
        if best[0] != "facs":
            raise SystemExit(f"{best[0]} wins: writing it is not implemented; ship it by hand")
        data = json.loads(PACKAGED.read_text())
        data.update(prior, version=2, prior_source=(
            "brows, eyes, nose, jaw: the mean face of dlib's 68-point predictor (iBUG 300-W); mouth: MEAD W009 "
            "neutral (mead-pairs, sentence 001), W036 happy 007 and M026 disgusted 018 less their labelled prototype"))
        PACKAGED.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote the W009 prior to {PACKAGED}")
    return 0


def mesh_main(prep: Path | None, write: bool) -> int:
    """The mesh prototypes fitted on W009 only (the prototypes stage on mead-pairs prepared with
    the mesh tracker, M030 excluded); with `write`, stored in the shipped file with its
    68-point view (stccl/edit/data/mesh_prototypes.json; the expression-free prior is the one
    shipped in prototypes.json)."""
    from stccl.edit.mesh_facs import PACKAGED_MESH
    from stccl.train.prototypes import mesh_view, refit_prototypes

    with tempfile.TemporaryDirectory() as tmp:
        prep = prep or prepare(Path(tmp), "mesh")
        refit = refit_prototypes(prep, exclude_actors=[HELD_OUT])
    mesh = refit.get("mesh")
    if mesh is None:
        raise SystemExit(f"{prep}: not prepared with the mesh tracker (its tracks have no mesh)")
    print(f"{mesh['source']}")
    print("| emotion | units (weight) | fit cos on W009 |\n|---|---|---|")
    for e, v in mesh["emotions"].items():
        q = mesh["fit"].get(e, {})
        units = ", ".join(f"{u} ({w:.2f})" for u, w in v["aus"].items()) or "none"
        print(f"| {e} | {units} | {q.get('cos', float('nan')):.2f}{' (FACS kept)' if q.get('kept') else ''} |")
    if write:
        data = {"format": "stccl-prototypes", "version": 3, "source": "mesh fit (W009)",
                "units": "inter-ocular distance, canonical face frame (eyes horizontal, x right, y down, z back)",
                **mesh_view(mesh)}
        PACKAGED_MESH.write_text(json.dumps(data) + "\n")
        print(f"wrote the mesh prototypes to {PACKAGED_MESH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
