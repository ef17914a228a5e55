"""The networks that score faces: the project's emotion classifier and the third-party models.

Each is optional. `Scorers.load` builds the ones whose weights were given (or, for the
classifier, found) and records for every one the path used or why it was skipped. Features
are computed per frame from the aligned face crop (canonical alignment, stccl.face.align) and
its landmarks in crop pixels; `FeatureBank` batches them for one video.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..emotions import EMOTIONS
from ..errors import WeightsError
from .config import ScoringWeights
from .weights import SKIPPED, WeightedNet, load_into

log = logging.getLogger(__name__)
CLASSIFIER_FILE = "classifier.safetensors"
FrameModel = Callable[[np.ndarray, np.ndarray], np.ndarray]  # crops (B,S,S,3), lmks (B,68,2) -> (B,D)


class ClassifierModel:
    """Per-frame emotion logits (B, 8) of the project's classifier (stccl train --stage classifier)."""

    name = "classifier"

    def __init__(self, path: Path, device: torch.device):
        from ..models.io import load_classifier

        self.net, cfg, meta = load_classifier(path, device)
        names = meta.get("emotions") or list(EMOTIONS)
        if list(names) != list(EMOTIONS):
            raise WeightsError(f"{path}: classifier emotions {names} differ from {list(EMOTIONS)}")
        self.device = device
        self.steps = meta.get("steps", 0)

    @torch.no_grad()
    def __call__(self, crops: np.ndarray, lmks: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2)
        return self.net(x.float().div_(255)).float().cpu().numpy()


class Scorers:
    def __init__(self) -> None:
        self.frame_models: dict[str, FrameModel] = {}
        self.syncnet = None
        self.device = torch.device("cpu")
        self.weights: dict[str, str] = {}

    @classmethod
    def load(cls, paths: ScoringWeights, device: str = "cpu") -> Scorers:
        from ..devices import resolve_device
        from ..weights import find

        s = cls()
        s.device = torch.device(resolve_device(device))
        found = find("classifier", paths.classifier)
        if paths.classifier is not None and found is None:
            raise WeightsError(f"classifier weights not found: {paths.classifier}")
        if found is not None:
            model = ClassifierModel(found, s.device)
            s.frame_models["classifier"] = model
            s.weights["classifier"] = str(found) + ("" if model.steps else " (untrained: 0 steps)")
        else:
            s.weights["classifier"] = (f"not given, no {CLASSIFIER_FILE} in ./weights/, $STCCL_WEIGHTS "
                                       "or the torch hub cache: skipped")
        for name in ("arcface", "arcface18", "expression"):
            path = getattr(paths, name)
            if path is None:
                s.weights[name] = SKIPPED
                continue
            s.frame_models[name] = _third_party(name, Path(path), s.device)
            s.weights[name] = str(path)
        if paths.syncnet is None:
            s.weights["syncnet"] = SKIPPED
        else:
            from .syncnet import SyncNet

            s.syncnet = load_into(SyncNet(), paths.syncnet, "SyncNet (syncnet_python S)").to(s.device)
            s.weights["syncnet"] = str(paths.syncnet)
        return s

    def bank(self, batch: int = 16) -> FeatureBank:
        return FeatureBank(self, batch)


def _third_party(name: str, path: Path, device: torch.device) -> WeightedNet:
    """The third-party model `name` with the weights of `path` (its module imported only now)."""
    if name == "arcface":
        from .arcface import ArcFaceR50, IdentityModel

        return IdentityModel.load(path, device, "ArcFace IResNet-50 (insightface layout)",
                                  lambda state: ArcFaceR50())
    if name == "arcface18":
        from .fad import FadModel, ResNetFace18

        return FadModel.load(path, device, "ArcFace resnet_face18",
                             lambda state: ResNetFace18(use_se=any(".se." in k for k in state)))
    from .emonet import EmoNet, ExpressionModel, n_expression_of

    return ExpressionModel.load(path, device, "EmoNet", lambda state: EmoNet(n_expression_of(state)))


class FeatureBank:
    """Per-frame features of one video for every loaded model (NaN rows where there is no face).

    `add(crop, lmk)` once per frame, in order (crop None = no face); `finish()` -> {name: (N, D)},
    plus "syncnet_lip": (N-4, 1024) lip embeddings of 5-frame windows when SyncNet is loaded.
    """

    def __init__(self, scorers: Scorers, batch: int = 16):
        self.s, self.batch = scorers, batch
        self.n = 0
        self._pending: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._out: dict[str, dict[int, np.ndarray]] = {k: {} for k in scorers.frame_models}
        self._lips = None
        if scorers.syncnet is not None:
            from .syncnet import LipWindows

            self._lips = LipWindows(scorers.syncnet, scorers.device, batch)

    @property
    def active(self) -> bool:
        return bool(self.s.frame_models) or self._lips is not None

    def add(self, crop: np.ndarray | None, lmk: np.ndarray | None) -> None:
        index, self.n = self.n, self.n + 1
        if not self.active:
            return
        if self._lips is not None:
            from .syncnet import sync_crop

            self._lips.add(None if crop is None else sync_crop(crop, lmk))
        if crop is not None and self.s.frame_models:
            self._pending.append((index, crop, lmk))
            if len(self._pending) >= self.batch:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        idx = [p[0] for p in self._pending]
        crops = np.stack([p[1] for p in self._pending])
        lmks = np.stack([p[2] for p in self._pending])
        for name, model in self.s.frame_models.items():
            for i, f in zip(idx, model(crops, lmks)):
                self._out[name][i] = f
        self._pending = []

    def finish(self) -> dict[str, np.ndarray]:
        self._flush()
        out = {}
        for name, rows in self._out.items():
            dim = len(next(iter(rows.values()))) if rows else 1
            arr = np.full((self.n, dim), np.nan, np.float32)
            for i, f in rows.items():
                arr[i] = f
            out[name] = arr
        if self._lips is not None:
            out["syncnet_lip"] = self._lips.finish()
        return out


def valid_rows(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x).all(1)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (N,D) arrays, over rows finite in both."""
    ok = valid_rows(a) & valid_rows(b)
    a, b = a[ok].astype(np.float64), b[ok].astype(np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(den, 1e-12)


def feature_metrics(inp: dict[str, np.ndarray], edited: dict[str, np.ndarray],
                    real: dict[str, np.ndarray] | None, emotion: str | None) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics from per-frame features: emotion accuracy, identity cosine, FAD, expression similarity.

    `real`: features of the real frames FAD and expression similarity compare against (None:
    those two are skipped). Returns (metrics, {metric: why skipped}).
    """
    from .fad import frechet_distance

    m: dict[str, float] = {}
    skipped: dict[str, str] = {}
    nan = float("nan")
    if "classifier" in edited:
        if emotion is None:
            for k in ("emotion_acc", "emotion_acc_input"):
                skipped[k] = "no target emotion (--emotion)"
        else:
            target = EMOTIONS.index(emotion)
            for key, feats in (("emotion_acc", edited), ("emotion_acc_input", inp)):
                logits = feats["classifier"][valid_rows(feats["classifier"])]
                m[key] = float((logits.argmax(1) == target).mean()) if len(logits) else nan
    else:
        skipped["emotion_acc"] = skipped["emotion_acc_input"] = "no classifier weights (--classifier)"
    if "arcface" in edited:
        cos = cosine_rows(inp["arcface"], edited["arcface"])
        m["identity_cos"] = float(cos.mean()) if len(cos) else nan
    else:
        skipped["identity_cos"] = "no --arcface weights"
    for key, model, flag in (("fad", "arcface18", "--arcface18"), ("expr_sim", "expression", "--expression")):
        if model not in edited:
            skipped[key] = f"no {flag} weights"
        elif real is None or model not in real:
            skipped[key] = "no real frames of the target emotion"
        else:
            r, g = real[model][valid_rows(real[model])], edited[model][valid_rows(edited[model])]
            if key == "fad":
                m[key] = frechet_distance(r, g) if len(r) >= 2 and len(g) >= 2 else nan
            else:
                m[key] = _cos(r.mean(0), g.mean(0)) if len(r) and len(g) else nan
    return m, skipped


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
