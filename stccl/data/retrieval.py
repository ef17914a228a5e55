"""Does the metric find, in the other emotion's take, the frame that says the same thing?

For a cross-emotion pair (a neutral take A, an emotional take B, the DTW path between them),
every frame of both takes is embedded with `CorrelationMetric.frame_embedding` (the same sampled
positions for every frame), and the similarity matrix S[i, j] = e_A(i) . e_B(j) is the metric's
own similarity: the mean cosine of projected disparities over regions and stages. With p(i)
the DTW partner of neutral frame i (the median frame the path matches to it):

    pos            mean over i of S[i, p(i)]
    neg            mean over i of the mean of S[i, j] over frames j at least `far` frames from p(i)
    retrieval@1    the share of i whose most similar frame of B is p(i) +- 1
    retrieval_chance  the share a random frame of B would score: mean of |{j : |j - p(i)| <= 1}| / |B|
    retrieval@1_centred  retrieval@1 with each take's mean embedding removed first, i.e. on
                   what changes from frame to frame. An addition to the definition: the raw
                   matrix is dominated by a few "hub" frames of B that are the most similar to
                   every frame of A (see `stccl inspect --retrieval`), and centring removes them

Only frames with a face in their take count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .store import PreparedDataset
from .windows import crops_to_tensor, matched_frames
from ..face.smooth import FACE_MISSING

SEED = 1234  # the positions of every validation's embeddings
BATCH = 32


@dataclass
class PairScores:
    frames: int  # neutral frames scored
    pos: float
    neg: float
    hits: float
    chance: float
    hits_centred: float = 0.0


def embed_clip(metric, ds: PreparedDataset, clip_id: str, size: int, device) -> tuple[torch.Tensor, np.ndarray]:
    """(frames with a face, E) embeddings of a prepared clip and those frames' indices."""
    clip = ds.clip(clip_id)
    ok = np.flatnonzero((clip.track["flags"] & FACE_MISSING) == 0)
    out = []
    for k in range(0, len(ok), BATCH):
        x = crops_to_tensor(clip.crops(tuple(int(i) for i in ok[k:k + BATCH])), size).to(device)
        out.append(metric.frame_embedding(x, torch.Generator().manual_seed(SEED)).float().cpu())
    return (torch.cat(out) if out else torch.zeros(0, 1)), ok


def similarity(ea: torch.Tensor, eb: torch.Tensor) -> torch.Tensor:
    return ea @ eb.T


def centred(ea: torch.Tensor, eb: torch.Tensor) -> torch.Tensor:
    """The similarity of the embeddings less each take's mean embedding."""
    return (ea - ea.mean(0)) @ (eb - eb.mean(0)).T


def score_pair(sim: torch.Tensor, frames_a: np.ndarray, frames_b: np.ndarray, path, far: int,
               sim_centred: torch.Tensor | None = None) -> PairScores | None:
    """The scores of one pair from its similarity matrix (rows: frames_a, columns: frames_b)
    and, when given, its centred matrix (for hits_centred)."""
    match = matched_frames(path)
    col = {int(j): c for c, j in enumerate(frames_b)}
    fb = torch.as_tensor(frames_b)
    pos, neg, hits, chance, hits_c, n = 0.0, 0.0, 0.0, 0.0, 0.0, 0
    for r, i in enumerate(frames_a):
        p = match.get(int(i))
        if p is None or p not in col:
            continue
        row = sim[r]
        dist = (fb - p).abs()
        far_cols = dist >= far
        pos += float(row[col[p]])
        neg += float(row[far_cols].mean()) if far_cols.any() else 0.0
        hits += float(dist[int(row.argmax())] <= 1)
        if sim_centred is not None:
            hits_c += float(dist[int(sim_centred[r].argmax())] <= 1)
        chance += float((dist <= 1).sum()) / len(fb)
        n += 1
    if n == 0:
        return None
    return PairScores(n, pos, neg, hits, chance, hits_c)


@torch.no_grad()
def retrieval_scores(metric, root, pair_indices: list[int], size: int, device, far: int) -> dict[str, float]:
    """{"pos", "neg", "retrieval@1", "retrieval_chance", "retrieval@1_centred"} over the
    pairs, frame-weighted."""
    ds = PreparedDataset(root)
    cache: dict[str, tuple[torch.Tensor, np.ndarray]] = {}

    def embedded(cid: str):
        if cid not in cache:
            cache[cid] = embed_clip(metric, ds, cid, size, device)
        return cache[cid]

    total = PairScores(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for k in pair_indices:
        pair = ds.pairs[k]
        (ea, fa), (eb, fb) = embedded(pair["neutral"]), embedded(pair["other"])
        if not len(fa) or not len(fb):
            continue
        s = score_pair(similarity(ea, eb), fa, fb, pair["path"], far, centred(ea, eb))
        if s is not None:
            total = PairScores(total.frames + s.frames, total.pos + s.pos, total.neg + s.neg,
                               total.hits + s.hits, total.chance + s.chance,
                               total.hits_centred + s.hits_centred)
    n = max(total.frames, 1)
    return {"pos": total.pos / n, "neg": total.neg / n, "retrieval@1": total.hits / n,
            "retrieval_chance": total.chance / n, "retrieval@1_centred": total.hits_centred / n}
