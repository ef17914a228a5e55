"""The hostile-input corpus: bad inputs, odd formats and faults, each run through the CLI as a
careless or hostile user would, with what stccl answered.

    python -m benchmarks.hostile [--only NAME,...] [--keep DIR]

Prints one markdown table (docs/reliability.md): the case, the exit code, the first line the
user sees on stderr (or the summary's status), whether every input is unchanged, and what
was left in the folder besides the inputs. Every case runs in its own temporary folder; the
face clip is the shared 224x224 LRS3 clip (../shared/data), copied there, never into the
repository. About 5 minutes on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from stccl.video import ffmpeg_exe

from .common import SHARED

FACE = SHARED / "wild" / "OzA6jRYjVQs_00004.mp4"
TWO_FACES = "[0:v][0:v]hstack=inputs=2[v]"


def ff(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def face(dst: Path, *opts: str, ext: str = ".mp4") -> Path:
    """The face clip re-encoded with `opts` (default: H.264 + AAC)."""
    out = dst.with_suffix(ext)
    ff("-i", str(FACE), *(opts or ("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")), str(out))
    return out


def garbage(src: Path, n: int = 8192) -> None:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = bytes((i * 7919) % 256 for i in range(n))
    src.write_bytes(bytes(data))


class Case:
    def __init__(self, name: str, setup: Callable[[Path], list[str]], run: str = "plain"):
        self.name, self.setup, self.run = name, setup, run


def edit(*extra: str) -> Callable[[Path], list[str]]:
    def setup(d: Path) -> list[str]:
        src = face(d / "in")
        return ["edit", str(src), "-e", "happy", *extra]
    return setup


def edit_of(make: Callable[[Path], Path], *extra: str) -> Callable[[Path], list[str]]:
    def setup(d: Path) -> list[str]:
        return ["edit", str(make(d)), "-e", "happy", *extra]
    return setup


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name
    return make


def _fmt(*opts: str, ext: str = ".mp4") -> Callable[[Path], Path]:
    return lambda d: face(d / "in", *opts, ext=ext)


def _audio_only(d: Path) -> Path:
    ff("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(d / "in.mp4"))
    return d / "in.mp4"


def _no_face(d: Path) -> Path:
    ff("-f", "lavfi", "-i", "testsrc2=size=320x240:duration=1", "-c:v", "libx264", str(d / "in.mp4"))
    return d / "in.mp4"


def _damaged(d: Path) -> Path:
    src = face(d / "in")
    garbage(src)
    return src


def _short(d: Path) -> Path:
    ff("-i", str(FACE), "-f", "lavfi", "-i", "sine=duration=3", "-map", "0:v", "-map", "1:a",
       "-c:v", "libx264", "-c:a", "aac", str(d / "in.mp4"))
    return d / "in.mp4"


def _vfr(d: Path) -> Path:
    ff("-i", str(FACE), "-vf", "select='lt(n,12)+not(mod(n,2))'", "-fps_mode", "vfr",
       "-c:v", "libx264", "-c:a", "aac", str(d / "in.mp4"))
    return d / "in.mp4"


def _two_faces(d: Path) -> Path:
    ff("-i", str(FACE), "-filter_complex", TWO_FACES, "-map", "[v]", "-map", "0:a",
       "-c:v", "libx264", "-c:a", "aac", str(d / "in.mp4"))
    return d / "in.mp4"


def _unicode(d: Path) -> Path:
    return face(d / "entrevista façade 表情")


def _exists(d: Path) -> list[str]:
    src = face(d / "in")
    (d / "in.happy.mp4").write_bytes(b"someone's file")
    return ["edit", str(src), "-e", "happy"]


def _same_as_input(d: Path) -> list[str]:
    src = face(d / "in")
    return ["edit", str(src), "-e", "happy", "-o", str(src)]


def _bad_toml(d: Path) -> list[str]:
    (d / "c.toml").write_text("emotion = happy\n[track\n")
    return ["edit", str(face(d / "in")), "--config", str(d / "c.toml")]


def _weights(kind: str) -> Callable[[Path], list[str]]:
    def setup(d: Path) -> list[str]:
        import torch
        from safetensors.torch import load_file, save_file

        from stccl.models.generator import Generator
        from stccl.models.io import save_model

        w = d / "g.safetensors"
        model = Generator()
        save_model(model, model.cfg, w, kind="generator")
        from safetensors import safe_open

        with safe_open(str(w), framework="pt") as f:
            meta = dict(f.metadata())
        state = load_file(str(w))
        if kind == "shapes":
            state = {k: torch.zeros(*(n + 1 for n in v.shape)) if v.ndim else v for k, v in state.items()}
            save_file(state, str(w), metadata=meta)
        elif kind == "metadata":
            save_file(state, str(w), metadata={**meta, "config": "{not json"})
        elif kind == "pickle":
            w.unlink()
            w = d / "g.pth"
            torch.save({"state": state, "f": os.getcwd}, w)
        return ["edit", str(face(d / "in")), "-e", "happy", "--engine", "neural", "--weights", str(w)]
    return setup


def _prep_damaged(part: str) -> Callable[[Path], list[str]]:
    def setup(d: Path) -> list[str]:
        tree = d / "data" / "M003" / "video" / "front"
        for emo in ("neutral", "happy"):
            (tree / emo / "level_1").mkdir(parents=True)
            face(tree / emo / "level_1" / "001")
        subprocess.run([sys.executable, "-m", "stccl_cli", "prep", str(d / "data"), "-o", str(d / "prep")],
                       check=True, capture_output=True)
        clip = next((d / "prep" / "clips").iterdir())
        if part == "crops":
            data = (clip / "crops.bin").read_bytes()
            (clip / "crops.bin").write_bytes(data[: len(data) // 2])
        elif part == "track":
            (clip / "track.npz").write_bytes((clip / "track.npz").read_bytes()[:200])
        elif part == "index":
            idx = d / "prep" / "index.jsonl"
            idx.write_text(idx.read_text()[:-40])
        return ["train", "--data", str(d / "prep"), "--stage", "metric", "--preset", "tiny",
                "-o", str(d / "run"), "--steps", "2"]
    return setup


CASES = [
    Case("text file named .mp4", edit_of(_file("in.mp4", b"hello, this is not a video\n"))),
    Case("zero-byte .mp4", edit_of(_file("in.mp4", b""))),
    Case("audio only", edit_of(_audio_only)),
    Case("no face", edit_of(_no_face)),
    Case("missing input", lambda d: ["edit", str(d / "nope.mp4"), "-e", "happy"]),
    Case("malformed TOML config", _bad_toml),
    Case("output exists", _exists),
    Case("output is the input", _same_as_input),
    Case("--emotion HAPPY (case)", edit_of(_fmt(), "-e", "HAPPY")),
    Case("--emotion bogus", edit_of(_fmt(), "-e", "bogus")),
    Case("--end -1", edit("--end", "-1")),
    Case("--start past the end", edit("--start", "99")),
    Case("--face -1", edit("--face", "-1")),
    Case("--face 5, two faces", edit_of(_two_faces, "--face", "5")),
    Case("--device cuda (CPU build)", edit("--device", "cuda")),
    Case("--intensity 7", edit("--intensity", "7")),
    Case("-o out.gif", lambda d: ["edit", str(face(d / "in")), "-e", "happy", "-o", str(d / "out.gif")]),
    Case("-o out.webm", lambda d: ["edit", str(face(d / "in")), "-e", "happy", "-o", str(d / "out.webm")]),
    Case("-o out.mkv", lambda d: ["edit", str(face(d / "in")), "-e", "happy", "-o", str(d / "out.mkv")]),
    Case("8 KB of garbage mid-file", edit_of(_damaged)),
    Case("variable frame rate", edit_of(_vfr)),
    Case("video shorter than its header", edit_of(_short)),
    Case("HEVC", edit_of(_fmt("-c:v", "libx265", "-c:a", "copy"))),
    Case("10-bit 4:4:4 H.264", edit_of(_fmt("-c:v", "libx264", "-pix_fmt", "yuv444p10le", "-c:a", "copy"))),
    Case("VP9 + Opus .webm", edit_of(_fmt("-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus",
                                          ext=".webm"))),
    Case("ProRes .mov", edit_of(_fmt("-c:v", "prores_ks", "-c:a", "copy", ext=".mov"))),
    Case("grayscale", edit_of(_fmt("-c:v", "libx264", "-pix_fmt", "gray", "-c:a", "copy"))),
    Case("no audio", edit_of(_fmt("-c:v", "libx264", "-an"))),
    Case("rotation-tagged 90", edit_of(lambda d: _rotated(d))),
    Case("unicode name", edit_of(_unicode)),
    Case("generator weights, wrong shapes", _weights("shapes")),
    Case("weights metadata not JSON", _weights("metadata")),
    Case("pickled .pth weights", _weights("pickle")),
    Case("prepared clip: truncated crops.bin", _prep_damaged("crops")),
    Case("prepared clip: damaged track.npz", _prep_damaged("track")),
    Case("prepared dataset: cut index.jsonl", _prep_damaged("index")),
    Case("SIGTERM during the edit", edit_of(lambda d: _looped(d)), run="sigterm"),
    Case("kill -9, then the same command again", edit_of(lambda d: _looped(d)), run="kill9"),
    Case("two runs to one output at once", lambda d: ["edit", str(face(d / "in")), "-e", "happy",
                                                      "-o", str(d / "out.mp4")], run="race"),
]


def _rotated(d: Path) -> Path:
    ff("-display_rotation", "90", "-i", str(FACE), "-c", "copy", str(d / "in.mp4"))
    return d / "in.mp4"


def _looped(d: Path) -> Path:
    ff("-stream_loop", "9", "-i", str(FACE), "-c", "copy", str(d / "in.mp4"))
    return d / "in.mp4"


def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def _cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stccl_cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})


def _wait_temp(folder: Path, proc: subprocess.Popen) -> None:
    while proc.poll() is None and not any(".tmp-" in p.name for p in folder.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)


def run_case(case: Case, folder: Path) -> dict:
    args = case.setup(folder)
    before = _sha(folder)
    if case.run == "race":
        procs = [_cli(args), _cli(args)]
        outs = [p.communicate() for p in procs]
        codes = [p.returncode for p in procs]
        rc = max(codes)
        line = "; ".join(f"exit {c}: {_first(o, e)}" for c, (o, e) in zip(codes, outs))
    else:
        proc = _cli(args)
        if case.run in ("sigterm", "kill9"):
            _wait_temp(folder, proc)
            proc.send_signal(signal.SIGTERM if case.run == "sigterm" else signal.SIGKILL)
        out, err = proc.communicate()
        rc, line = proc.returncode, _first(out, err)
        if case.run == "kill9":
            left = sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)
            rerun = _cli(args)
            out, err = rerun.communicate()
            line = f"killed, left {len(left)} temp file(s); rerun exit {rerun.returncode}: {_first(out, err)}"
            rc = rerun.returncode
    after = _sha(folder)
    kept = all(after.get(k) == v for k, v in before.items())
    new = sorted(set(after) - set(before)) + sorted(p.name + "/" for p in folder.iterdir()
                                                     if p.is_dir() and p.name.startswith("."))
    return {"case": case.name, "exit": rc, "says": line, "inputs kept": kept, "new files": new}


def _first(out: str, err: str) -> str:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if errors:
        return errors[0] + (" (+traceback)" if "Traceback" in err else "")
    status = [ln.strip("│ ").split("│")[-1].strip() for ln in out.splitlines() if ln.count("│") > 6]
    notes = [ln for ln in lines if ln.lower().startswith(("warning", "note"))]
    return "; ".join(status[-1:] + notes[:1]) or (lines[-1] if lines else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    rows = []
    print("| case | exit | what the user sees | inputs unchanged | files left |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for i, case in enumerate(CASES):
            if only and not any(o in case.name for o in only):
                continue
            folder = root / f"case{i:02d}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            try:
                row = run_case(case, folder)
            except Exception as e:  # a setup that could not be built here
                row = {"case": case.name, "exit": "-", "says": f"(not run: {e})", "inputs kept": "-",
                       "new files": []}
            rows.append(row)
            says = row["says"].replace("|", "/")
            print(f"| {row['case']} | {row['exit']} | {says} | {'yes' if row['inputs kept'] else 'NO'} "
                  f"| {', '.join(row['new files']) or '-'} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
