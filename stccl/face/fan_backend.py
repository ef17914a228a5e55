"""The `fan` tracker: face-alignment's 2D FAN-4 for landmarks (needs `2DFAN4-11f355bf06.pth.tar`,
found as stccl.weights.FILES["fan"] says), with dlib's detectors so that nothing is downloaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..devices import resolve_device
from ..errors import WeightsError
from ..registry import TRACKERS
from .backend import check_image
from .dlib_backend import HogDetectBackend, HogDetector

# face-alignment's box -> crop convention for detector boxes (see FaceAlignment.get_landmarks_from_image)
_FAN_REFERENCE_SCALE = 195.0
_FAN_CENTER_Y_OFFSET = 0.12


def build(device: str = "auto", weights: Path | None = None) -> "FanBackend":
    """The registry's factory: `weights` is the FAN-4 file make_backend found."""
    return FanBackend(weights, device)


class FanBackend(HogDetectBackend):
    """face-alignment's 2D FAN-4 landmarks; detection by dlib's HOG detector."""

    name = "fan"
    caps = TRACKERS["fan"].caps

    def __init__(self, weights: str | Path, device: str = "auto", flip_input: bool = True) -> None:
        import torch

        self._torch = torch
        self.device = resolve_device(device)
        self.flip_input = flip_input
        self.net = load_fan(Path(weights), self.device)
        self._hog = HogDetector()

    def landmarks(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        from face_alignment.utils import crop, flip, get_preds_fromhm

        torch = self._torch
        if check_image(image).ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        center, scale = fan_center_scale(box)
        patch = crop(image, center, scale).transpose(2, 0, 1).astype(np.float32) / 255.0
        x = torch.from_numpy(patch)[None].to(self.device)
        with torch.inference_mode():
            hm = self.net(x)[-1]
            if self.flip_input:
                hm = hm + flip(self.net(flip(x))[-1], is_label=True)
        heat = hm.float().cpu().numpy()
        preds, _, _ = get_preds_fromhm(heat)
        return heatmap_to_image(preds[0], center, scale, heat.shape[-1])


def fan_center_scale(box: Sequence[float]) -> tuple[np.ndarray, float]:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    center = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0 - (y1 - y0) * _FAN_CENTER_Y_OFFSET])
    return center, (x1 - x0 + y1 - y0) / _FAN_REFERENCE_SCALE


def heatmap_to_image(
    preds: np.ndarray, center: np.ndarray, scale: float, resolution: int
) -> np.ndarray:
    # the float inverse of face_alignment.utils.transform_np (which rounds to integer pixels)
    h = 200.0 * scale
    return ((preds / resolution - 0.5) * h + center).astype(np.float32)


def load_fan(path: Path, device: str):
    import torch
    from face_alignment.models import FAN

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as e:
        raise WeightsError(
            f"cannot load FAN weights {path}: {' '.join(str(e).split())[:200]}"
        ) from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} is not a state dict")
    net = FAN(4)
    own = net.state_dict()
    check_keys(own.keys(), state.keys(), path)
    wrong = [k for k in own if tuple(own[k].shape) != tuple(getattr(state[k], "shape", ()))]
    if wrong:
        k = wrong[0]
        raise WeightsError(f"{path} does not fit FAN-4: {len(wrong)} tensor(s) of another shape (first "
                           f"{k}: FAN-4's {tuple(own[k].shape)}, the file's "
                           f"{tuple(getattr(state[k], 'shape', ()))})")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit FAN-4: {' '.join(str(e).split())[:300]}") from None
    return net.to(device).eval()


def check_keys(expected, got, path: Path) -> None:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if not (missing or unexpected):
        return
    parts = []
    if missing:
        parts.append(f"missing keys {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_few(unexpected)}")
    raise WeightsError(f"{path} does not fit FAN-4: {'; '.join(parts)}")


def _few(keys: list[str], n: int = 5) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more
