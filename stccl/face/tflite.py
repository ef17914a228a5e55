"""The TFLite runtime for the mesh tracker's models: LiteRT where it is installed, else OpenCV.

LiteRT (`ai-edge-litert`, Google's TFLite runtime) runs the landmark model in ~1.9 ms and the
detector in ~1.9 ms on one thread here, against ~4.9 and ~3.8 ms under OpenCV 5's
`cv2.dnn.readNetFromTFLite` (python -m benchmarks.bench_tracker measures both), and it runs
the sparse full-range detector, which OpenCV's importer cannot load. LiteRT has wheels for
Linux (x86-64, aarch64), macOS arm64 and Windows; elsewhere (macOS on Intel) the package
installs without it and the models run under OpenCV. `STCCL_TFLITE=opencv` forces OpenCV.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import WeightsError

RUNTIMES = ("litert", "opencv")


def runtime() -> str:
    """The runtime the models run under: $STCCL_TFLITE when set, else litert when importable."""
    asked = os.environ.get("STCCL_TFLITE", "").strip().lower()
    if asked:
        if asked not in RUNTIMES:
            raise WeightsError(f"STCCL_TFLITE={asked!r}: use one of {', '.join(RUNTIMES)}")
        return asked
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "opencv"
    return "litert"


@contextmanager
def _quiet_stderr():
    """Process-level stderr (file descriptor 2) sent to the null device for the block."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (captured): nothing to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def model_path(name: str) -> Path:
    """A model file shipped in the package (stccl/face/data/mesh)."""
    from importlib import resources

    return Path(str(resources.files("stccl.face") / "data" / "mesh" / name))


class TfliteModel:
    """One float32 TFLite model with one NHWC image input: `model(x) -> outputs`, largest first
    (x: (1, H, W, 3) float32; the outputs keep the model's shapes, batch first)."""

    def __init__(self, path: Path, threads: int = 1, runtime_name: str | None = None) -> None:
        if not Path(path).is_file():
            raise WeightsError(f"the face model {Path(path).name} is missing from {Path(path).parent}; reinstall stccl")
        self.runtime = runtime_name or runtime()
        self.path = Path(path)
        if self.runtime == "litert":
            from ai_edge_litert.interpreter import Interpreter

            with _quiet_stderr():  # LiteRT's C++ logs "INFO: Created ... XNNPACK delegate" there
                self._it = Interpreter(model_path=str(path), num_threads=threads)
                self._it.allocate_tensors()
            self._input = self._it.get_input_details()[0]["index"]
            details = self._it.get_output_details()
            self.input_shape = tuple(int(v) for v in self._it.get_input_details()[0]["shape"])
            self._outputs = [d["index"] for d in sorted(details, key=lambda d: -int(np.prod(d["shape"])))]
        else:
            import cv2

            try:
                self._net = cv2.dnn.readNetFromTFLite(str(path))
            except cv2.error as e:
                raise WeightsError(f"OpenCV cannot run {Path(path).name} (install ai-edge-litert): {e}") from None
            self._names = self._net.getUnconnectedOutLayersNames()
            self.input_shape = None

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, np.float32)
        if self.runtime == "litert":
            self._it.set_tensor(self._input, x)
            self._it.invoke()
            return [self._it.get_tensor(i).copy() for i in self._outputs]
        self._net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        outs = self._net.forward(self._names)
        return sorted((np.asarray(o) for o in outs), key=lambda o: -o.size)
