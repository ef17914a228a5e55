"""Audio of a clip, and MFCC content features with one row per video frame."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np

from ..errors import InputError
from ..video import read_audio


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray | None:
    """The first audio stream of `path` as mono float32 in [-1, 1], shape (samples,).

    None when the file has no audio stream.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    return read_audio(path, sample_rate)


def mfcc_per_frame(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int,
                   n_mfcc: int = 13, normalize: bool = False) -> np.ndarray:
    """MFCCs with one vector per video frame: shape (n_frames, n_mfcc), float32.

    Row t is centred on the time of video frame t (t / fps): hop = sample_rate / fps,
    centred frames, a window two hops wide. The result is cropped or edge-padded to
    `n_frames`. `normalize` applies per-utterance CMVN (see `cmvn`), which is what the DTW
    pairing wants: it removes the speaker's and the recording's average spectrum.
    """
    if n_frames <= 0:
        return np.zeros((0, n_mfcc), np.float32)
    audio = np.asarray(audio, np.float32).reshape(-1)
    if audio.size == 0:
        return np.zeros((n_frames, n_mfcc), np.float32)
    hop = max(1, round(sample_rate / fps))
    win = 2 * hop
    n_fft = 1 << (win - 1).bit_length()
    if audio.size < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.size))
    m = librosa.feature.mfcc(
        y=audio, sr=sample_rate, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop,
        win_length=win, center=True, n_mels=40,
    ).T
    m = _fit_length(m, n_frames)
    if normalize:
        m = cmvn(m)
    return m.astype(np.float32)


def cmvn(features: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Per-utterance mean and variance normalisation of (T, D) features, per column."""
    f = np.asarray(features, np.float64)
    if f.shape[0] == 0:
        return f.astype(np.float32)
    std = f.std(axis=0)
    return ((f - f.mean(axis=0)) / np.maximum(std, eps)).astype(np.float32)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop rows to `n`, or pad by repeating the last row."""
    if x.shape[0] >= n:
        return x[:n]
    return np.pad(x, ((0, n - x.shape[0]), (0, 0)), mode="edge")
