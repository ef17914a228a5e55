"""`stccl inspect CLIP_A CLIP_B --retrieval`: the metric's retrieval of one prepared pair, as
its similarity matrix with the DTW path drawn on it, beside the same matrix centred (each
take's mean embedding removed: `val/retrieval@1_centred`).

Rows are the neutral take's frames, columns the emotional take's; S[i, j] is the metric's own
frame similarity (`CorrelationMetric.frame_embedding`, as `val/retrieval@1` uses it). Each
row's most similar column is marked: green where it is the DTW partner +-1 frame (a hit), red
where it is not. The scores are those of `stccl.data.retrieval.score_pair`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..draw import (ALERT, BG, GOOD, INK, MUTED, TitledPanel, colorize, colour_bar, fmt_value, page, panel_row,
                    text_block)
from ..errors import InputError
from .context import Context, InspectSummary
from .picture import save_picture
from .sources import Source

SIDE = 560  # the matrix is drawn on at most SIDE x SIDE pixels
PATH = (255, 255, 255)


def find_pair(src: Source, snd: Source | None):
    """(dataset, pair, swapped): the prepared pair of the two clips, in either order."""
    from ..data.store import PreparedDataset

    if snd is None or src.kind != "clip" or snd.kind != "clip":
        raise InputError("--retrieval needs two prepared clip folders of one dataset (stccl prep), "
                         "which holds their DTW path")
    root = src.path.resolve().parent.parent
    if snd.path.resolve().parent.parent != root:
        raise InputError(f"{src.name} and {snd.name} are clips of two different prepared datasets")
    ds = PreparedDataset(root)
    a, b = src.path.name, snd.path.name
    for pair in ds.pairs:
        if (pair["neutral"], pair["other"]) in ((a, b), (b, a)):
            return ds, pair, pair["neutral"] != a
    raise InputError(f"{a} and {b} are not a pair of {root.name} (its pairs.json lists a neutral take "
                     "and the same sentence in another emotion)")


def inspect_retrieval(ctx: Context, src: Source, snd: Source | None, out: Path) -> InspectSummary:
    from ..data.retrieval import centred, embed_clip, score_pair

    ds, pair, _ = find_pair(src, snd)
    ctx.total = 3
    ea, fa = embed_clip(ctx.metric, ds, pair["neutral"], ctx.cfg.size, ctx.device)
    ctx.tick()
    eb, fb = embed_clip(ctx.metric, ds, pair["other"], ctx.cfg.size, ctx.device)
    ctx.tick()
    if not len(fa) or not len(fb):
        raise InputError(f"{pair['neutral'] if not len(fa) else pair['other']}: no frame with a face")
    sim, sim_c = ea @ eb.T, centred(ea, eb)
    far = max(2, ctx.window or 0)  # as in training's validation: at least a window away
    scores = score_pair(sim, fa, fb, pair["path"], far, sim_c)
    n_a, n_b = len(ds.clip(pair["neutral"])), len(ds.clip(pair["other"]))
    stats = {}
    if scores is not None:
        k = scores.frames
        stats = {"retrieval@1": scores.hits / k, "retrieval@1_centred": scores.hits_centred / k,
                 "retrieval_chance": scores.chance / k, "pos": scores.pos / k, "neg": scores.neg / k}
    matrices = [(_matrix_picture(m.numpy(), fa, fb, n_a, n_b, pair["path"]), m.numpy()) for m in (sim, sim_c)]
    img = _page(ctx, pair, matrices, stats)
    save_picture(img, out, ctx.overwrite)
    ctx.tick()
    return InspectSummary(
        out=out, kind="retrieval", panels=["retrieval"], untrained=ctx.untrained, metric=ctx.label,
        stage=0, map_size=(n_a, n_b), frames=n_a, size=(img.shape[1], img.shape[0]),
        stats={k: (v, v, v) for k, v in stats.items()}, retrieval=stats)


def _matrix_picture(sim, fa, fb, n_a, n_b, path) -> np.ndarray:
    """The matrix over every frame of both takes (grey where a frame has no face), scaled so
    that one frame is `cell` pixels, the DTW path in white and each row's best column marked."""
    from ..data.windows import matched_frames

    cell = max(1, SIDE // max(n_a, n_b))
    full = np.full((n_a, n_b), np.nan, np.float32)
    full[np.ix_(fa, fb)] = sim
    lo, hi = float(np.nanmin(full)), float(np.nanmax(full))
    v01 = np.nan_to_num((full - lo) / (hi - lo) if hi > lo else np.full_like(full, 0.5), nan=0.0)
    img = colorize(v01)
    img[np.isnan(full)] = (200, 200, 200)
    img = cv2.resize(img, (n_b * cell, n_a * cell), interpolation=cv2.INTER_NEAREST)
    pts = np.array([[int(j) * cell + cell // 2, int(i) * cell + cell // 2] for i, j in path], np.int32)
    cv2.polylines(img, [pts], False, PATH, max(1, cell // 3), cv2.LINE_AA)
    match = matched_frames(path)
    for r, i in enumerate(fa):
        j = int(fb[int(np.argmax(sim[r]))])
        p = match.get(int(i))
        colour = GOOD if p is not None and abs(j - p) <= 1 else ALERT
        cv2.circle(img, (j * cell + cell // 2, int(i) * cell + cell // 2), max(2, cell // 2), colour, -1)
    return img


def _page(ctx: Context, pair: dict, matrices: list, stats: dict) -> np.ndarray:
    captions = [("The metric's similarity", "mean cosine over regions and stages (val/retrieval@1)"),
                ("Centred", "each take's mean embedding removed first (val/retrieval@1_centred)")]
    panels = []
    for (picture, sim), (title, unit) in zip(matrices, captions):
        width = max(picture.shape[1], 360)
        body = np.full((picture.shape[0], width, 3), BG, np.uint8)
        body[:, :picture.shape[1]] = picture
        footer = colour_bar(width, (float(sim.min()), float(sim.max())), unit)
        panels.append(TitledPanel(body, title, "rows: neutral take; columns: emotional take", footer))
    status = "UNTRAINED metric: expect little" if ctx.untrained else ctx.label
    if stats:
        line = (f"retrieval@1 {fmt_value(stats['retrieval@1'])}, centred {fmt_value(stats['retrieval@1_centred'])} "
                f"(chance {fmt_value(stats['retrieval_chance'])});  pos {fmt_value(stats['pos'])}, "
                f"neg {fmt_value(stats['neg'])}")
    else:
        line = "no neutral frame has a DTW partner with a face: nothing to score"
    row = panel_row(panels)
    width = row.shape[1]
    head = text_block([(f"Retrieval: {pair['neutral']} vs {pair['other']}", 0.75, INK, 2), (line, 0.6, INK, 1),
                       (status, 0.55, ALERT if ctx.untrained else MUTED, 1)], width)
    legend = text_block([("white: the DTW path. Dots: each neutral frame's most similar frame, green when it "
                          "is the DTW partner +-1 frame (a hit), red when not. Grey: no face.", 0.55, MUTED, 1)],
                        width)
    return page([head, row, legend], width + 48)
