import cv2
import numpy as np
import pytest
import torch

from stccl.errors import InputError, WeightsError
from stccl.face import fan_weights_path, make_backend
from stccl.face.backends import FAN_WEIGHTS, DlibBackend, FanBackend

MEAD_CLIP = "mead/M003_level_1_happy_024.mp4"


def read_frame(path, index=0) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def fan_dir(tmp_path_factory):
    """A folder holding randomly initialised FAN-4 weights under the expected file name."""
    from face_alignment.models import FAN

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("fan")
    torch.save(FAN(4).state_dict(), d / FAN_WEIGHTS)
    return d


@pytest.fixture
def no_weights_env(tmp_path, monkeypatch):
    """Empty cwd, no $STCCL_WEIGHTS, an empty torch hub: nothing to find."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STCCL_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


@pytest.fixture(scope="module")
def mead_frame(shared_data):
    return read_frame(shared_data / MEAD_CLIP, 10)


def smooth_image(h=360, w=480, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def assert_fan_landmarks(backend):
    lmk = backend.landmarks(smooth_image(), (150, 90, 330, 270))
    assert lmk.shape == (68, 2) and lmk.dtype == np.float32
    assert np.isfinite(lmk).all()


def test_fan_from_weights_dir(fan_dir, no_weights_env):
    backend = make_backend("fan", "cpu", weights_dir=fan_dir)
    assert isinstance(backend, FanBackend) and backend.name == "fan"
    assert_fan_landmarks(backend)


def test_fan_from_env_and_hub(fan_dir, no_weights_env, monkeypatch):
    assert fan_weights_path() is None
    monkeypatch.setenv("STCCL_WEIGHTS", str(fan_dir))
    assert fan_weights_path() == fan_dir / FAN_WEIGHTS
    monkeypatch.delenv("STCCL_WEIGHTS")
    hub = no_weights_env / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / FAN_WEIGHTS).symlink_to(fan_dir / FAN_WEIGHTS)
    assert fan_weights_path() == hub / FAN_WEIGHTS
    assert make_backend("fan", "cpu").name == "fan"


def test_local_weights_folder_wins_over_hub(fan_dir, no_weights_env):
    (no_weights_env / "weights").mkdir()
    (no_weights_env / "weights" / FAN_WEIGHTS).symlink_to(fan_dir / FAN_WEIGHTS)
    assert fan_weights_path().resolve() == (no_weights_env / "weights" / FAN_WEIGHTS).resolve()


def test_fan_missing_weights_names_the_file(no_weights_env):
    with pytest.raises(WeightsError, match=FAN_WEIGHTS.replace(".", r"\.")) as err:
        make_backend("fan", "cpu")
    assert "checkpoints" in str(err.value) and "\n" not in str(err.value)


def test_fan_wrong_keys(no_weights_env):
    from face_alignment.models import FAN

    state = FAN(4).state_dict()
    state["extra.weight"] = state.pop("conv1.weight")
    torch.save(state, no_weights_env / FAN_WEIGHTS)
    with pytest.raises(
        WeightsError, match="missing keys conv1.weight.*unexpected keys extra.weight"
    ):
        make_backend("fan", "cpu", weights_dir=no_weights_env)


def test_fan_not_a_state_dict(no_weights_env):
    torch.save([1, 2, 3], no_weights_env / FAN_WEIGHTS)
    with pytest.raises(WeightsError, match="state dict"):
        make_backend("fan", "cpu", weights_dir=no_weights_env)


def test_auto_is_the_mesh_with_or_without_fan_weights(fan_dir, no_weights_env, monkeypatch):
    """The mesh needs no downloaded weights and is the default; fan and dlib stay choices."""
    assert make_backend("auto").name == "mesh"
    monkeypatch.setenv("STCCL_WEIGHTS", str(fan_dir))
    assert make_backend("auto", "cpu").name == "mesh"
    assert make_backend("fan", "cpu").name == "fan"
    assert isinstance(make_backend("dlib"), DlibBackend)


def test_bad_names():
    with pytest.raises(InputError, match="unknown tracker"):
        make_backend("sfd")
    with pytest.raises(InputError, match="unknown device"):
        make_backend("fan", "tpu:x")


@pytest.mark.filterwarnings("ignore:Warning. this detector is deprecated")
def test_fan_matches_face_alignment(fan_dir, no_weights_env, monkeypatch):
    """Same pre/post-processing as FaceAlignment.get_landmarks_from_image (which rounds to ints)."""
    import face_alignment

    hub = no_weights_env / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / FAN_WEIGHTS).symlink_to(fan_dir / FAN_WEIGHTS)
    fa = face_alignment.FaceAlignment(
        face_alignment.LandmarksType.TWO_D,
        device="cpu",
        face_detector="dlib",
        compile=False,
        flip_input=True,
    )
    image, box = smooth_image(seed=1), np.array([140.0, 80.0, 340.0, 290.0])
    ref = fa.get_landmarks_from_image(image, detected_faces=[box])[0]
    ours = make_backend("fan", "cpu").landmarks(image, box)
    assert np.ptp(ref, axis=0).min() > 20  # the points spread out: a meaningful comparison
    assert np.abs(ours - ref).max() <= 1.0


def test_dlib_on_real_frame(mead_frame):
    backend = make_backend("dlib")
    boxes = backend.detect(mead_frame)
    assert boxes.shape == (1, 5) and boxes.dtype == np.float32
    x0, y0, x1, y1, score = boxes[0]
    assert score > 0 and x1 - x0 > 200  # a 1080p frontal face
    lmk = backend.landmarks(mead_frame, boxes[0])
    assert lmk.shape == (68, 2) and lmk.dtype == np.float32
    inner = lmk[17:68]  # brows, nose, eyes, mouth: all inside the detector box
    assert (inner[:, 0] > x0).all() and (inner[:, 0] < x1).all()
    assert (inner[:, 1] > y0).all() and (inner[:, 1] < y1).all()
    grow = 0.25 * (x1 - x0)  # the jaw line may leave the HOG box a little
    assert (lmk[:, 0] > x0 - grow).all() and (lmk[:, 0] < x1 + grow).all()
    assert (lmk[:, 1] > y0 - grow).all() and (lmk[:, 1] < y1 + grow).all()
    eyes_y = lmk[36:48, 1].mean()
    assert eyes_y < lmk[48:68, 1].min() and eyes_y < lmk[30, 1]


def test_dlib_finds_nothing_in_black_and_rejects_bad_input():
    backend = make_backend("dlib")
    assert backend.detect(np.zeros((240, 320, 3), np.uint8)).shape == (0, 5)
    assert backend.detect(np.zeros((240, 320), np.uint8)).shape == (0, 5)  # grey: the edit's luma
    for bad in (np.zeros((240, 320, 4), np.uint8), np.zeros((240, 320, 3), np.float32)):
        with pytest.raises(InputError, match="RGB .* or grey .* uint8"):
            backend.detect(bad)


def test_cnn_boxes_are_mapped_to_hog_boxes(shared_data, monkeypatch):
    """The CNN detector finds the same faces as HOG, and its mapped boxes overlap HOG's more
    than its own boxes do (the landmark predictor expects HOG-like boxes)."""
    from stccl.face import dlib_backend as backends
    from stccl.face.tracker import iou

    frames = [read_frame(shared_data / rel, i) for rel in ("mead/M003_level_1_happy_024.mp4", "wild/d20.mp4")
              for i in (0, 10, 20)]
    hog, cnn = backends.HogDetector(), backends.CnnDetector()

    def overlap():
        pairs = [(hog(f)[0], cnn(f)[0]) for f in frames]
        return np.mean([iou(h, c) for h, c in pairs])

    mapped = overlap()
    monkeypatch.setattr(backends, "_CNN_TO_HOG", {"dx": 0.0, "dy": 0.0, "scale": 1.0})
    raw = overlap()
    assert mapped > 0.75 and mapped > raw + 0.05, (mapped, raw)
