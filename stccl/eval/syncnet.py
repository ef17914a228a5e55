"""LSE-D / LSE-C: lip-sync error with SyncNet, as computed by joonson/syncnet_python.

The network is syncnet_python's ``S`` (weights ``syncnet_v2.model``, a state dict) with its
key names. As there:

- video: 5-frame windows of 224x224 face crops, BGR, float 0..255 (no normalisation). The crop
  is syncnet_python's: a square of side 2.8 s around the face box (s = half the larger side of
  the box), from s above the box centre to 1.8 s below it, padded with grey 110. Here the box is
  the landmarks' bounding box (syncnet_python uses S3FD detections, which are similar in size);
- audio: 13 MFCCs of 16 kHz audio in the scale of 16-bit samples, python_speech_features'
  defaults (25 ms windows, 10 ms hop, 26 mel filters, 512-point FFT, pre-emphasis 0.97,
  lifter 22, c0 replaced by log energy), 4 MFCC frames per video frame (25 fps), 20 per window;
- distances: for each video window, the Euclidean distance of its embedding to the audio
  embeddings at offsets -10..+10 frames (zero-padded at the ends), averaged over windows.
  LSE-D = the smallest mean distance; LSE-C = median of the mean distances - LSE-D;
  offset = the best offset in frames.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn

FPS = 25.0
SAMPLE_RATE = 16000
VSHIFT = 10
WINDOW = 5


def _conv_bn(cin, cout, k, **kw):
    return [nn.Conv2d(cin, cout, k, **kw), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _conv3_bn(cin, cout, k, **kw):
    return [nn.Conv3d(cin, cout, k, **kw), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


def _fc():
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 1024))


class SyncNet(nn.Module):
    """audio (B,1,13,20) MFCC -> (B,1024); lips (B,3,5,224,224) BGR 0..255 -> (B,1024)."""

    def __init__(self):
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_conv_bn(1, 64, 3, padding=1), nn.MaxPool2d(1, 1),
            *_conv_bn(64, 192, 3, padding=1), nn.MaxPool2d(3, stride=(1, 2)),
            *_conv_bn(192, 384, 3, padding=1),
            *_conv_bn(384, 256, 3, padding=1),
            *_conv_bn(256, 256, 3, padding=1), nn.MaxPool2d(3, stride=2),
            *_conv_bn(256, 512, (5, 4)))
        self.netfcaud = _fc()
        self.netfclip = _fc()
        self.netcnnlip = nn.Sequential(
            *_conv3_bn(3, 96, (5, 7, 7), stride=(1, 2, 2)), nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
            *_conv3_bn(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv3_bn(256, 256, (1, 3, 3), padding=(0, 1, 1)),
            *_conv3_bn(256, 256, (1, 3, 3), padding=(0, 1, 1)),
            *_conv3_bn(256, 256, (1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
            *_conv3_bn(256, 512, (1, 6, 6)))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


# -- audio ---------------------------------------------------------------------------------------
def _hz2mel(hz):
    return 2595 * np.log10(1 + np.asarray(hz, np.float64) / 700.0)


def _mel2hz(mel):
    return 700 * (10 ** (np.asarray(mel, np.float64) / 2595.0) - 1)


def mel_filterbank(nfilt: int = 26, nfft: int = 512, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(nfilt, nfft//2+1) triangular filters on FFT bins, as python_speech_features builds them."""
    mel = np.linspace(_hz2mel(0), _hz2mel(sample_rate / 2), nfilt + 2)
    bins = np.floor((nfft + 1) * _mel2hz(mel) / sample_rate).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(lo, mid):
            fb[j, i] = (i - lo) / (mid - lo)
        for i in range(mid, hi):
            fb[j, i] = (hi - i) / (hi - mid)
    return fb


def dct2_ortho(n: int) -> np.ndarray:
    """(n, n) orthonormal DCT-II matrix: y = x @ D.T."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    d = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


def mfcc(signal: np.ndarray, sample_rate: int = SAMPLE_RATE, numcep: int = 13, nfilt: int = 26,
         nfft: int = 512, winlen: float = 0.025, winstep: float = 0.01, preemph: float = 0.97,
         ceplifter: int = 22) -> np.ndarray:
    """(frames, numcep) MFCCs with python_speech_features.mfcc's defaults and framing.

    `signal`: mono samples in the scale the reference reads them (16-bit integers).
    """
    x = np.asarray(signal, np.float64).reshape(-1)
    x = np.append(x[:1], x[1:] - preemph * x[:-1])
    flen, fstep = int(round(winlen * sample_rate)), int(round(winstep * sample_rate))
    n = 1 if len(x) <= flen else 1 + int(np.ceil((len(x) - flen) / fstep))
    x = np.concatenate([x, np.zeros(max((n - 1) * fstep + flen - len(x), 0))])
    idx = np.arange(flen)[None, :] + fstep * np.arange(n)[:, None]
    power = np.abs(np.fft.rfft(x[idx], nfft)) ** 2 / nfft
    eps = np.finfo(float).eps
    energy = power.sum(1)
    energy[energy == 0] = eps
    feat = power @ mel_filterbank(nfilt, nfft, sample_rate).T
    feat[feat == 0] = eps
    cep = np.log(feat) @ dct2_ortho(nfilt).T
    cep = cep[:, :numcep] * (1 + (ceplifter / 2.0) * np.sin(np.pi * np.arange(numcep) / ceplifter))
    cep[:, 0] = np.log(energy)
    return cep


# -- video ---------------------------------------------------------------------------------------
def sync_crop(image: np.ndarray, lmk68: np.ndarray, crop_scale: float = 0.4) -> np.ndarray:
    """(224, 224, 3) uint8 BGR crop of an RGB image around the face, as syncnet_python crops."""
    lmk = np.asarray(lmk68, np.float64)
    (x0, y0), (x1, y1) = lmk.min(0), lmk.max(0)
    s = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = s * 2 * (1 + crop_scale)
    src = np.float32([[cx - s * (1 + crop_scale), cy - s], [cx + s * (1 + crop_scale), cy - s],
                      [cx - s * (1 + crop_scale), cy - s + side]])
    dst = np.float32([[0, 0], [224, 0], [0, 224]])
    M = cv2.getAffineTransform(src, dst)
    face = cv2.warpAffine(image, M, (224, 224), flags=cv2.INTER_AREA if side > 224 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(110, 110, 110))
    return face[..., ::-1].copy()


class LipWindows:
    """Streams SyncNet lip embeddings of consecutive 5-frame windows (window k = frames k..k+4)."""

    def __init__(self, net: SyncNet, device: torch.device, batch: int = 16):
        self.net, self.device, self.batch = net, device, batch
        self.frames: list[np.ndarray | None] = []  # the frames not yet consumed by every window
        self.first = 0  # index of self.frames[0]
        self.feats: list[np.ndarray | None] = []

    def add(self, crop: np.ndarray | None) -> None:
        self.frames.append(crop)
        if len(self.frames) >= self.batch + WINDOW - 1:
            self._run(self.batch)

    def finish(self) -> np.ndarray:
        """(windows, 1024) float32; NaN rows where a window holds a frame without a face."""
        self._run(max(len(self.frames) - WINDOW + 1, 0))
        if not self.feats:
            return np.zeros((0, 1024), np.float32)
        return np.stack([np.full(1024, np.nan, np.float32) if f is None else f for f in self.feats])

    @torch.no_grad()
    def _run(self, n: int) -> None:
        if n <= 0:
            return
        wins = [self.frames[k:k + WINDOW] for k in range(n)]
        ok = [all(f is not None for f in w) for w in wins]
        if any(ok):
            x = np.stack([np.stack(w) for w, good in zip(wins, ok) if good])  # (B,5,224,224,3)
            x = torch.from_numpy(x).to(self.device).permute(0, 4, 1, 2, 3).float()
            out = iter(self.net.forward_lip(x).float().cpu().numpy())
        self.feats += [next(out) if good else None for good in ok]
        self.frames = self.frames[n:]
        self.first += n


@torch.no_grad()
def audio_windows(net: SyncNet, audio: np.ndarray, n_windows: int, device: torch.device,
                  batch: int = 64) -> np.ndarray:
    """(n_windows, 1024) SyncNet audio embeddings: window k = MFCC frames 4k..4k+19.

    `audio`: mono float in [-1, 1] at 16 kHz. Windows past the end of the audio are NaN.
    """
    cc = mfcc(np.asarray(audio, np.float64) * 32768.0).T.astype(np.float32)  # (13, T)
    n_ok = max(min(n_windows, (cc.shape[1] - 20) // 4 + 1), 0)
    out = np.full((n_windows, 1024), np.nan, np.float32)
    for k0 in range(0, n_ok, batch):
        ks = range(k0, min(k0 + batch, n_ok))
        x = torch.from_numpy(np.stack([cc[:, 4 * k:4 * k + 20] for k in ks]))[:, None].to(device)
        out[k0:k0 + len(ks)] = net.forward_aud(x).float().cpu().numpy()
    return out


def lse(lip: np.ndarray, aud: np.ndarray, vshift: int = VSHIFT) -> dict[str, float]:
    """LSE-D, LSE-C and the offset (frames) from lip (N,1024) and audio (N,1024) window embeddings.

    Windows whose lip or audio embedding is NaN are left out of the mean; audio outside 0..N-1
    counts as a zero vector, as the reference's padding does.
    """
    n = min(len(lip), len(aud))
    lip, aud = lip[:n].astype(np.float64), aud[:n].astype(np.float64)
    valid = np.isfinite(lip).all(1) & np.isfinite(aud).all(1)
    if valid.sum() == 0:
        return {"lse_d": float("nan"), "lse_c": float("nan"), "offset": float("nan")}
    padded = np.concatenate([np.zeros((vshift, aud.shape[1])), np.nan_to_num(aud),
                             np.zeros((vshift, aud.shape[1]))])
    idx = np.nonzero(valid)[0]
    dists = np.stack([np.linalg.norm(lip[idx] - padded[idx + k] + 1e-6, axis=1)
                      for k in range(2 * vshift + 1)], 1)  # (windows, offsets); eps as F.pairwise_distance
    mean = dists.mean(0)
    best = int(np.argmin(mean))
    return {"lse_d": float(mean[best]), "lse_c": float(np.median(mean) - mean[best]),
            "offset": float(vshift - best)}


def sync_metrics(net: SyncNet, device: torch.device, lip: np.ndarray, audio: np.ndarray | None,
                 fps: float) -> tuple[dict[str, float], str | None]:
    """LSE of one video from its lip window embeddings and its audio: (metrics, why skipped)."""
    if abs(fps - FPS) > 0.5:
        return {}, f"SyncNet works on 25 fps video, this one is {fps:g} fps"
    if audio is None or len(audio) < SAMPLE_RATE * 0.2:
        return {}, "no audio"
    if not np.isfinite(lip).all(1).any():
        return {}, "no 5 consecutive frames with a face"
    aud = audio_windows(net, audio, len(lip), device)
    return lse(lip, aud), None
