"""Edit throughput per engine as a ratio to ffmpeg decode+encode of the same clip, peak memory
on a clip looped 2x against the same clip looped 20x, and the neural engine's ms/frame.

    python -m benchmarks.bench_edit [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from stccl.video import VideoReader, VideoWriter, ffmpeg_exe, probe

from .common import PRINT_PEAK_RSS, Timer, print_rows, row, shared_clip

CLIPS = {"1080p": "mead/W015_level_1_neutral_030.mp4", "512²": "wild/d12.mp4"}
PRESET, CRF = "fast", 18


def transcode_seconds(src: Path, dst: Path) -> float:
    """The baseline: ffmpeg alone decodes and re-encodes with the settings edit uses."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-map", "0:v:0",
           "-map", "0:a:0?", "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF),
           "-pix_fmt", "yuv420p", "-c:a", "copy", str(dst)]
    with Timer() as t:
        subprocess.run(cmd, check=True)
    return t.seconds


def passthrough_seconds(src: Path, dst: Path) -> float:
    """Our own reader -> writer with no editing (decode + pipes + encode)."""
    info = probe(src)
    with Timer() as t:
        with VideoReader(src, chunk=8, info=info) as reader, VideoWriter(
                dst, info.fps, info.width, info.height, audio_from=src, overwrite=True,
                crf=CRF, preset=PRESET) as writer:
            for chunk in reader:
                writer.write(chunk)
    return t.seconds


def looped(src: Path, dst: Path, seconds: float) -> Path:
    """`src` looped (ffmpeg -stream_loop, streams copied) to at least `seconds`."""
    times = max(1, math.ceil(seconds / probe(src).duration))
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-stream_loop", str(times - 1),
                    "-i", str(src), "-c", "copy", str(dst)], check=True)
    return dst


def whole_process_seconds(src: Path, dst: Path, pipes: str = "auto", tracker: str | None = None,
                          engine: str | None = None, code: Path | None = None) -> float:
    """`stccl edit SRC -e happy` as a user runs it: a new process, start-up included; `pipes`
    other than the default through a --config file (`pipes` of EditConfig); `tracker` as
    --tracker; `engine` as --engine; `code`: a folder whose `stccl` and `stccl_cli` are run
    instead of the installed ones (first on PYTHONPATH)."""
    cmd = [sys.executable, "-m", "stccl_cli", "edit", str(src), "-e", "happy", "-o", str(dst),
           "--overwrite"] + (["--tracker", tracker] if tracker else []) + (["--engine", engine] if engine else [])
    if pipes != "auto":
        config = dst.with_suffix(".toml")
        config.write_text(f'pipes = "{pipes}"\n')
        cmd += ["--config", str(config)]
    # the default engine as a fresh install has it: run where no generator weights can be found
    # (an empty folder as the working folder, $STCCL_WEIGHTS and the torch hub)
    bare = dst.parent / "no_weights"
    bare.mkdir(exist_ok=True)
    env = {**os.environ, "STCCL_WEIGHTS": str(bare), "TORCH_HOME": str(bare)}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    with Timer() as t:
        r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=bare)
    if engine is None and "warp engine" not in r.stdout:  # auto's note: it fell back on the warp
        raise RuntimeError(f"the whole-process edit did not use the warp engine:\n{r.stdout[-2000:]}")
    return t.seconds


def edit_seconds(editor, src: Path, dst: Path) -> float:
    with Timer() as t:
        editor.edit(src, emotion="happy", out=dst, overwrite=True)
    return t.seconds


def random_generator(tmp: Path) -> Path:
    from stccl.models.generator import Generator, GeneratorConfig
    from stccl.models.io import save_model

    cfg = GeneratorConfig()
    path = tmp / "generator.safetensors"
    save_model(Generator(cfg), cfg, path, kind="generator")
    return path


def neural_ms_per_frame(weights: Path, batch: int = 8, reps: int = 5) -> float:
    from stccl.edit.neural import NeuralEngine

    eng = NeuralEngine(weights, device="auto")
    x = torch.rand(batch, 3, eng.size, eng.size)
    lmk = torch.zeros(batch, 68, 2)
    a = torch.ones(batch)
    eng(x, lmk, "happy", a)
    with Timer() as t:
        for _ in range(reps):
            eng(x, lmk, "happy", a)
    return 1000 * t.seconds / (reps * batch)


PEAK_SCRIPT = """
import sys
from stccl import Editor
Editor(engine="warp").edit(sys.argv[1], emotion="happy", out=sys.argv[2], overwrite=True)
""" + PRINT_PEAK_RSS


def peak_rss_sweep(src: Path, tmp: Path, long: int = 20) -> tuple[float, float, float]:
    """Peak RSS (MiB) of a fresh-process warp edit of `src`, of `src` looped 2x and looped
    `long` x. Length is compared between the two loops: a loop's seam makes the face jump, which
    can call the CNN detector (about 40 MiB while it runs) that one pass of the clip never needs;
    both loops have seams, so their ratio shows what grows with length alone."""
    seconds = probe(src).duration
    two = looped(src, tmp / "looped2.mp4", 2 * seconds)
    many = looped(src, tmp / f"looped{long}.mp4", long * seconds)
    return tuple(peak_rss_mb(p, tmp / f"m_{p.stem}.mp4") for p in (src, two, many))


def peak_rss_mb(src: Path, dst: Path) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(src), str(dst)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) / 1024


def main(quick: bool = False) -> list[dict]:
    from stccl import Editor

    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        engines = {"warp": Editor(engine="warp")}
        # the same without reading the expression shown (what absolute labels cost)
        engines["warp --relative"] = Editor(engine="warp", relative=True)
        # the same without checking how sure the fits are (what stccl.face.spread costs)
        engines["warp, fit_check_every = 0"] = Editor(engine="warp", fit_check_every=0)
        engines["neural (random init)"] = Editor(engine="neural", weights=str(random_generator(tmp)))
        for label, rel in CLIPS.items():
            src = shared_clip(rel)
            n = probe(src).frames
            base = min(transcode_seconds(src, tmp / "t.mp4") for _ in range(1 if quick else 2))
            rows.append(row(f"ffmpeg decode+encode {label}", n / base, "fps", src.name))
            rows.append(row(f"reader->writer passthrough {label}", base / passthrough_seconds(src, tmp / "p.mp4"), "x",
                            "ffmpeg time / passthrough time"))
            for name, editor in engines.items():
                if quick and not name.startswith("warp") and label != "512²":
                    continue
                secs = edit_seconds(editor, src, tmp / "e.mp4")
                rows.append(row(f"edit {name} {label}: time / ffmpeg time", secs / base, "x",
                                f"{n / secs:.1f} fps" + ("; goal <= 1.5" if name == "warp" else "")))
        src = shared_clip(CLIPS["512²"])
        one, two, twenty = peak_rss_sweep(src, tmp)
        rows.append(row("peak RSS, clip (warp)", one, "MiB", src.name))
        rows.append(row("peak RSS, clip looped 20x / looped 2x", twenty / two, "x", "goal <= 1.2"))
        rows.append(row("neural engine ms/frame, CPU, 256², batch 8", neural_ms_per_frame(tmp / "generator.safetensors"),
                        "ms", "random-init weights"))
    print_rows("edit", rows)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
