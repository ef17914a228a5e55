import subprocess

import numpy as np
import pytest

from stccl.data.audio import cmvn, load_audio, mfcc_per_frame
from stccl.data.dtw import DEFAULT_BAND, dtw, frame_pairs, mouth_features
from stccl.data.pair_candidates import DEFAULT_MAX_PAIR_COST, candidate_pairs, choose_pairs
from stccl.errors import DataError, InputError

SR = 16000
FPS = 25
TEMPO = 0.8  # the copy plays at 0.8x: original frame i is frame i / 0.8 of the copy


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-y", "-v", "error", *args]
    subprocess.run(cmd, check=True, capture_output=True)


def features(path) -> np.ndarray:
    audio = load_audio(path, SR)
    return mfcc_per_frame(audio, SR, FPS, round(len(audio) / SR * FPS), normalize=True)


def check_path(path: np.ndarray, n: int, m: int) -> None:
    assert path.dtype.kind == "i" and path.shape[1] == 2
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
    steps = {tuple(s) for s in np.diff(path, axis=0)}
    assert steps <= {(1, 0), (0, 1), (1, 1)}


# ---- synthetic


def warp_signal(n: int = 120, m: int = 170):
    """A smooth 3-d sequence, and a copy resampled along a known monotone warp."""
    t = np.linspace(0, 1, n)

    def signal(x):
        return np.stack([np.sin(9 * x), np.cos(14 * x), np.sin(23 * x + 1)], axis=1)

    u = np.linspace(0, 1, m)
    warped_t = u ** 1.6  # copy frame j shows original time warped_t[j]
    return signal(t), signal(warped_t), np.interp(t, warped_t, np.arange(m))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("band", [None, 0.3])
def test_dtw_recovers_synthetic_warp(metric, band):
    a, b, known = warp_signal()
    path, cost = dtw(a, b, metric=metric, band=band)
    check_path(path, len(a), len(b))
    assert np.abs(frame_pairs(path) - known).mean() < 1.0
    assert 0 <= cost < 0.1


def test_dtw_identity_and_inputs():
    a = np.random.default_rng(0).normal(size=(30, 4))
    path, cost = dtw(a, a, "euclidean")
    assert np.array_equal(path, np.stack([np.arange(30)] * 2, axis=1))
    assert cost == pytest.approx(0.0)
    path, _ = dtw(a[:1], a)
    check_path(path, 1, 30)
    with pytest.raises(InputError, match="feature sizes"):
        dtw(a, a[:, :3])
    with pytest.raises(InputError, match="metric"):
        dtw(a, a, metric="manhattan")
    with pytest.raises(InputError, match="non-empty"):
        dtw(a[:0], a)


def test_frame_pairs_monotone():
    path = np.array([[0, 0], [0, 1], [1, 2], [2, 2], [3, 3], [3, 4], [3, 5], [4, 6]])
    assert frame_pairs(path).tolist() == [1, 2, 2, 4, 6]


def test_mfcc_per_frame_shapes():
    audio = np.random.default_rng(0).normal(size=SR).astype(np.float32) * 0.1
    m = mfcc_per_frame(audio, SR, FPS, 25)
    assert m.shape == (25, 13) and m.dtype == np.float32
    assert mfcc_per_frame(audio, SR, FPS, 40, n_mfcc=20).shape == (40, 20)  # edge-padded
    assert mfcc_per_frame(audio, SR, FPS, 10).shape == (10, 13)  # cropped
    assert mfcc_per_frame(audio[:100], SR, 30, 3).shape == (3, 13)
    assert not mfcc_per_frame(audio[:0], SR, FPS, 5).any()
    n = cmvn(m)
    assert np.allclose(n.mean(0), 0, atol=1e-5) and np.allclose(n.std(0), 1, atol=1e-3)
    assert np.allclose(mfcc_per_frame(audio, SR, FPS, 25, normalize=True), n, atol=1e-5)


def test_mouth_features():
    rng = np.random.default_rng(1)
    lm = np.tile(rng.uniform(0, 100, size=(1, 68, 2)), (20, 1, 1))
    lm[:, 36:42] = [10, 40]
    lm[:, 42:48] = [70, 40]  # inter-ocular distance 60
    lm[:, [61, 62, 63]] = [[45, 80], [50, 80], [55, 80]]
    lm[:, [67, 66, 65], 0] = [45, 50, 55]
    opening = 3 + 3 * np.sin(np.arange(20))
    lm[:, [67, 66, 65], 1] = 80 + opening[:, None]
    lm[3] = np.nan
    f = mouth_features(lm)
    assert f.shape == (20, 4) and f.dtype == np.float32 and np.isfinite(f).all()
    ok = np.arange(20) != 3
    assert np.corrcoef(f[ok, 0], opening[ok])[0, 1] > 0.999
    assert np.allclose(f.mean(0), 0, atol=1e-5)
    assert mouth_features(lm[:1]).shape == (1, 4)
    with pytest.raises(DataError, match="68, 2"):
        mouth_features(np.zeros((5, 5, 2)))


# ---- real clips


@pytest.fixture(scope="module")
def w015(shared_data):
    return shared_data / "mead" / "W015_level_1_neutral_030.mp4"


@pytest.fixture(scope="module")
def slowed(w015, tmp_path_factory):
    out = tmp_path_factory.mktemp("retime") / "slow.mp4"
    ffmpeg("-i", str(w015), "-af", f"atempo={TEMPO}", "-vf", f"setpts=PTS/{TEMPO},scale=256:-2",
           "-r", str(FPS), "-c:v", "libx264", "-preset", "ultrafast", str(out))
    return out


def test_dtw_recovers_retiming_of_real_clip(w015, slowed):
    a, b = features(w015), features(slowed)
    assert len(b) == pytest.approx(len(a) / TEMPO, abs=2)
    path, cost = dtw(a, b, band=DEFAULT_BAND)
    check_path(path, len(a), len(b))
    error = np.abs(frame_pairs(path) - np.arange(len(a)) / TEMPO).mean()
    print(f"\nretimed W015: {len(a)} -> {len(b)} frames, mean error {error:.2f} frames, "
          f"cost {cost:.3f}")
    assert error <= 2.0
    assert cost < DEFAULT_MAX_PAIR_COST


def test_dtw_recovers_piecewise_retiming(w015, tmp_path):
    out = tmp_path / "piecewise.wav"
    graph = ("[0:a]atrim=0:2,asetpts=PTS-STARTPTS,atempo=0.7[a0];"
             "[0:a]atrim=2,asetpts=PTS-STARTPTS,atempo=1.3[a1];[a0][a1]concat=n=2:v=0:a=1")
    ffmpeg("-i", str(w015), "-filter_complex", graph, "-ac", "1", "-ar", str(SR), str(out))
    a, b = features(w015), features(out)
    i = np.arange(len(a))
    known = np.where(i < 2 * FPS, i / 0.7, 2 * FPS / 0.7 + (i - 2 * FPS) / 1.3)
    path, _ = dtw(a, b, band=DEFAULT_BAND)
    error = np.abs(frame_pairs(path) - known).mean()
    print(f"\npiecewise W015: mean error {error:.2f} frames")
    assert error <= 2.0


def test_mismatched_pair_costs_more(w015, slowed, shared_data):
    a = features(w015)
    _, matched = dtw(a, features(slowed), band=DEFAULT_BAND)
    other = shared_data / "mead" / "M030_level_3_angry_016.mp4"
    _, mismatched = dtw(a, features(other), band=DEFAULT_BAND)
    print(f"\nnormalised DTW cost: matched {matched:.3f}, mismatched {mismatched:.3f}, "
          f"max {DEFAULT_MAX_PAIR_COST}")
    assert mismatched > 3 * matched
    assert matched < DEFAULT_MAX_PAIR_COST < mismatched


def test_load_audio_without_audio_stream(shared_data, tmp_path):
    assert load_audio(shared_data / "mead-crops" / "happy.mp4") is None
    with pytest.raises(InputError):
        load_audio(tmp_path / "missing.mp4")


# ---- pairing


def mead(actor, emotion, sentence, level=3, view="front"):
    return {"id": f"{actor}_{view}_{emotion}_{level}_{sentence}", "layout": "mead",
            "actor": actor, "emotion": emotion, "sentence": sentence, "view": view,
            "intensity": level, "repetition": None}


def ravdess(actor, emotion, statement, rep, intensity=1):
    return {"id": f"r_{actor}_{emotion}_{statement}_{rep}_{intensity}", "layout": "ravdess",
            "actor": actor, "emotion": emotion, "sentence": statement, "view": None,
            "intensity": intensity, "repetition": rep, "channel": "speech"}


def test_candidate_pairs_mead():
    items = [
        mead("M003", "neutral", "001", 1), mead("M003", "neutral", "002", 1),
        mead("M003", "neutral", "028", 1),
        mead("M003", "happy", "001"), mead("M003", "happy", "001", 1),
        mead("M003", "happy", "001", view="left_30"),
        mead("M003", "disgusted", "028"), mead("M003", "disgusted", "029"),
        mead("M003", "sad", "003"),
        mead("W015", "angry", "002"),
        mead("W015", "unknown", "001"),
    ]
    pairs = candidate_pairs(items)
    assert pairs == sorted(pairs, key=lambda p: (p[1], p[0]))
    assert set(pairs) == {
        ("M003_front_neutral_1_001", "M003_front_happy_3_001"),
        ("M003_front_neutral_1_001", "M003_front_happy_1_001"),
        ("M003_front_neutral_1_028", "M003_front_disgusted_3_028"),
        ("M003_front_neutral_1_001", "M003_front_disgusted_3_028"),
        ("M003_front_neutral_1_002", "M003_front_disgusted_3_029"),
    }


def test_candidate_pairs_ravdess_prefers_same_repetition():
    items = [
        ravdess("Actor_01", "neutral", "01", 1), ravdess("Actor_01", "neutral", "01", 2),
        ravdess("Actor_01", "neutral", "02", 2),
        ravdess("Actor_01", "happy", "01", 2, 2), ravdess("Actor_01", "sad", "02", 1),
        ravdess("Actor_02", "angry", "01", 1),
    ]
    assert candidate_pairs(items) == [
        ("r_Actor_01_neutral_01_2_1", "r_Actor_01_happy_01_2_2"),
        ("r_Actor_01_neutral_02_2_1", "r_Actor_01_sad_02_1_1"),
    ]


def test_choose_pairs():
    candidates = [("n1", "a"), ("n2", "a"), ("n1", "b"), ("n1", "c"), ("n3", "c")]
    costs = {("n1", "a"): 0.3, ("n2", "a"): 0.1, ("n1", "b"): 0.9, ("n1", "c"): None,
             ("n3", "c"): float("nan")}
    accepted, rejected = choose_pairs(candidates, lambda n, o: costs[(n, o)], max_cost=0.5)
    assert accepted == [{"neutral": "n2", "other": "a", "cost": 0.1}]
    assert [(r["other"], r["neutral"]) for r in rejected] == [("b", "n1"), ("c", None)]
    assert "0.900 > max 0.500" in rejected[0]["reason"]
