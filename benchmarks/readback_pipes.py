"""The same edits made through RGB pipes and through yuv420p pipes, read by the attention mesh
(the reader that did not drive them and reads an unchanged re-encode best), side by side.

    python -m benchmarks.readback --seconds 1.6 --pipes rgb24 --keep /tmp/rb_rgb --json /tmp/rb_rgb/dlib.json
    .venv-facemesh/bin/python benchmarks/facemesh_readback.py /tmp/rb_rgb /tmp/rb_rgb/facemesh.json
    (the same with --pipes auto into /tmp/rb_yuv)
    python -m benchmarks.readback_pipes /tmp/rb_rgb /tmp/rb_yuv

Per edit: the lips (mouth-opening correlation and mean deviation from the input) and the
expression (how far the brows rose and the mouth corners lifted, output less input, IOD) by
each path. The lips of the two paths read the same within the reader's floor when their
difference is no larger than what the reader gets wrong on the clip's unchanged re-encode
(1 - its correlation, and its deviation). Also the verdicts of readback_judge, both paths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .readback_judge import judge


def _rows(folder: Path) -> tuple[dict, list[dict]]:
    mesh = json.loads((folder / "facemesh.json").read_text())
    dlib = json.loads((folder / "dlib.json").read_text())
    return {(r["clip"], r["emotion"]): r for r in mesh}, judge(dlib, mesh)


def compare(rgb_dir: Path, yuv_dir: Path) -> tuple[list[str], dict]:
    (rgb, rgb_verdicts), (yuv, yuv_verdicts) = _rows(rgb_dir), _rows(yuv_dir)
    lines = ["| clip | edit | corr rgb / yuv | dev rgb / yuv | floor 1-corr / dev | lips within floor | "
             "brows up rgb / yuv | corners up rgb / yuv |", "|---|---|---|---|---|---|---|---|"]
    within = total = 0
    for (clip, emotion), a in sorted(rgb.items()):
        b, floor = yuv.get((clip, emotion)), rgb.get((clip, "same"))
        if b is None or floor is None or emotion == "same":
            continue
        slack_corr = max(1 - floor["mouth_corr"], 1 - yuv[(clip, "same")]["mouth_corr"])
        slack_dev = max(floor["mouth_dev"], yuv[(clip, "same")]["mouth_dev"])
        ok = abs(a["mouth_corr"] - b["mouth_corr"]) <= slack_corr and abs(a["mouth_dev"] - b["mouth_dev"]) <= slack_dev
        within += ok
        total += 1
        lines.append(f"| {clip[:18]} | {emotion} | {a['mouth_corr']:.3f} / {b['mouth_corr']:.3f} | "
                     f"{a['mouth_dev']:.3f} / {b['mouth_dev']:.3f} | {slack_corr:.3f} / {slack_dev:.3f} | "
                     f"{'yes' if ok else '**no**'} | {a['brows_up']:+.3f} / {b['brows_up']:+.3f} | "
                     f"{a['corners_up']:+.3f} / {b['corners_up']:+.3f} |")
    good = lambda vs: sum(v["passed"] for v in vs)  # noqa: E731
    same = sum((v["kept"], v["moved"]) == (w["kept"], w["moved"])
               for v, w in zip(rgb_verdicts, yuv_verdicts) if (v["clip"], v["emotion"]) == (w["clip"], w["emotion"]))
    summary = {"lips_within_floor": within, "edits": total, "passed_rgb": good(rgb_verdicts),
               "passed_yuv": good(yuv_verdicts), "same_verdicts": same, "verdicts": len(rgb_verdicts)}
    return lines, summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lines, s = compare(Path(args[0]), Path(args[1]))
    print("\n".join(lines))
    print(f"\nattention mesh: the two paths' lips read the same within the reader's floor on "
          f"{s['lips_within_floor']}/{s['edits']} edits; the judge passes {s['passed_rgb']} (rgb) and "
          f"{s['passed_yuv']} (yuv) of {s['verdicts']}, with the same verdict on {s['same_verdicts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
