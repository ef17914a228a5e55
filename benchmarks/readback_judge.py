"""Both readers of the read-back side by side, each clip judged by the reader that reads its
unchanged re-encode best.

    python -m benchmarks.readback --seconds 1.6 --keep /tmp/rb --json /tmp/rb/dlib.json
    .venv-facemesh/bin/python benchmarks/facemesh_readback.py /tmp/rb /tmp/rb/facemesh.json
    python -m benchmarks.readback_judge /tmp/rb/dlib.json /tmp/rb/facemesh.json

The mesh tracker drives the edits; dlib (68 points, read afresh on every frame) and MediaPipe's
478-point attention mesh (its own venv) read them. A reader's floor is its reading of an
unchanged re-encode (`same`): where it cannot read that within the lip bar, its reading of an
edit says nothing about the edit. Per clip, the judge is the reader whose floor correlates best.
An edit passes when the judge reads the lips kept (stccl.eval.readback's bar) and the
expression moved the asked way: by dlib, the landmarks' shift along the move asked
(cos > 0.2, ratio > 0.1); by the attention mesh, the sign of the brows' or the mouth corners'
change (happy: corners up; sad: corners down; angry: brows down; surprised: brows up).

Beside the verdict, for information (not judged): each reader's mouth-width and mouth-rounding
correlations (stccl.face.measures.width_corr / rounding_corr and facemesh_readback's same), on
the unchanged re-encode and on the edit; "nan" where the input's width or rounding does not move,
"-" where a row has none.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MIN_CORR, MAX_DEV, MOVING = 0.9, 0.03, 0.03  # stccl.eval.readback's lip bar
SIGN = {"happy": ("corners_up", 1), "sad": ("corners_up", -1), "angry": ("brows_up", -1),
        "surprised": ("brows_up", 1)}


def kept(row: dict) -> bool:
    return row["mouth_dev"] <= MAX_DEV and (row["mouth_corr"] >= MIN_CORR or row["mouth_std"] <= MOVING)


def moved(reader: str, row: dict) -> bool:
    if reader == "dlib":
        return row["expr_cos"] > 0.2 and row["expr_shift_ratio"] > 0.1
    key, sign = SIGN[row["emotion"]]
    return sign * row[key] > 0


def shape(floor: dict, row: dict) -> tuple[float, float, float, float]:
    """(floor width corr, floor rounding corr, edit width corr, edit rounding corr); NaN where absent."""
    return tuple(float("nan") if r.get(k) is None else float(r[k])
                 for r in (floor, row) for k in ("width_corr", "rounding_corr"))


def judge(dlib_rows: list[dict], mesh_rows: list[dict]) -> list[dict]:
    by = {("dlib", Path(r["clip"]).stem, r["emotion"]): r for r in dlib_rows}
    by.update({("attention mesh", r["clip"], r["emotion"]): r for r in mesh_rows})
    clips = sorted({Path(r["clip"]).stem for r in dlib_rows})
    out = []
    for clip in clips:
        floors = {who: by.get((who, clip, "same")) for who in ("dlib", "attention mesh")}
        floors = {who: f for who, f in floors.items() if f is not None}
        if not floors:
            continue
        best = max(floors, key=lambda who: (floors[who]["mouth_corr"], -floors[who]["mouth_dev"]))
        for emotion in sorted({e for (_, c, e) in by if c == clip and e != "same"}):
            row = {"clip": clip, "emotion": emotion, "judge": best}
            for who in floors:
                r = by.get((who, clip, emotion))
                if r is not None:
                    row[who] = (floors[who]["mouth_corr"], floors[who]["mouth_dev"], r["mouth_corr"], r["mouth_dev"])
                    row[f"{who} shape"] = shape(floors[who], r)
            r = by.get((best, clip, emotion))
            row["kept"] = r is not None and kept(r)
            row["moved"] = r is not None and moved(best, r)
            row["passed"] = row["kept"] and row["moved"]
            out.append(row)
    return out


def main(argv: list[str]) -> int:
    dlib_rows, mesh_rows = (json.loads(Path(p).read_text()) for p in argv[:2])
    rows = judge(dlib_rows, mesh_rows)
    print("| clip | edit | dlib floor corr/dev | dlib edit corr/dev | attention mesh floor corr/dev | "
          "attention mesh edit corr/dev | judged by | lips kept | moved the asked way | "
          "dlib width/rounding corr, floor → edit | attention mesh width/rounding corr, floor → edit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cell = lambda v, k: f"{v[k]:.3f}/{v[k + 1]:.3f}"  # noqa: E731
    pair = lambda v: f"{cell(v, 0)} → {cell(v, 2)}" if v else "-"  # noqa: E731
    for r in rows:
        d, m = r.get("dlib"), r.get("attention mesh")
        print(f"| {r['clip']} | {r['emotion']} | {cell(d, 0) if d else '-'} | {cell(d, 2) if d else '-'} | "
              f"{cell(m, 0) if m else '-'} | {cell(m, 2) if m else '-'} | {r['judge']} | "
              f"{'yes' if r['kept'] else 'NO'} | {'yes' if r['moved'] else 'NO'} | "
              f"{pair(r.get('dlib shape'))} | {pair(r.get('attention mesh shape'))} |")
    passed = sum(r["passed"] for r in rows)
    print(f"\n{passed}/{len(rows)} edits keep the lips and move the expression the asked way, as their judge reads them")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
