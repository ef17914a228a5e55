"""FACS action units on MediaPipe's 468-point face mesh, and the emotion prototypes made of them.

Units: inter-ocular distance (IOD) in the canonical face frame (eye centres at (-0.5, 0) and
(0.5, 0), x to the image right, y down, z away from the camera). Every unit is a smooth field
over the mesh: a displacement (outward, down, back) at a few anchors of the face, spread over
the vertices near each anchor by a Gaussian of the distance on the canonical face. Anchors are
the points of the mesh's 68-point view (stccl.face.mesh_map) or the cheek's centre, so that the
units follow the face's own features, and every unit is mirrored (the image-left half given,
the right half its mirror image), except AU14R. Which vertices each unit moves, and why:
weights/PROTOTYPES.md (`python -m stccl.edit.mesh_facs --table` prints the table).

The magnitude of each unit in each emotion is not set here: it is fitted on real takes
(stccl.train.mesh_prototypes; the shipped ones on MEAD W009 only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face.mesh_map import ibug68
from .mesh_shape import normalise_mesh

# which units make each emotion (FACS; as the 68-point prototypes, stccl.edit.facs)
EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "angry": ("AU4", "AU5", "AU7", "AU23"),
    "contempt": ("AU14R",),
    "disgusted": ("AU9", "AU15", "AU16"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU7", "AU20"),
    "happy": ("AU6", "AU12"),
    "neutral": (),
    "sad": ("AU1", "AU4", "AU6", "AU15"),
    "surprised": ("AU1", "AU2", "AU5"),
}

PACKAGED_MESH = Path(__file__).with_name("data") / "mesh_prototypes.json"

UNITS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU12", "AU14R", "AU15", "AU16", "AU20", "AU23")
EMOTIONS_WITH_UNITS = tuple(e for e, aus in EMOTION_AUS.items() if aus)


@dataclass(frozen=True)
class Part:
    """A displacement (outward, down, back) at an anchor, spread with a Gaussian of width
    `sigma` (IOD) over the vertices that `where` admits (None: all)."""

    anchor: str  # a name of `anchors`
    move: tuple[float, float, float]
    sigma: float
    where: str | None = None  # "above_eyes", "upper_lid", "lower_lid", "off_midline"


# each unit's parts; image-left half, mirrored (a move's first value is outward from the midline)
AU_PARTS: dict[str, tuple[Part, ...]] = {
    # inner brow raiser: the inner brow and the forehead above it go up
    "AU1": (Part("inner_brow", (0.0, -0.10, 0.0), 0.22, "above_eyes"),),
    # outer brow raiser
    "AU2": (Part("outer_brow", (0.0, -0.10, 0.0), 0.22, "above_eyes"),),
    # brow lowerer: brows down, the inner ends most; the skin between them goes down with them
    # instead of being squeezed between brows that close in (only a slight pull inward)
    "AU4": (Part("inner_brow", (-0.01, 0.08, 0.0), 0.22, "above_eyes"),
            Part("mid_brow", (0.0, 0.04, 0.0), 0.3, "above_eyes"),
            Part("glabella", (0.0, 0.02, 0.0), 0.08, "above_eyes")),
    # upper lid raiser
    "AU5": (Part("upper_lid", (0.0, -0.035, 0.0), 0.09, "upper_lid"),),
    # cheek raiser: the cheek mass goes up (and forward), pushing the lower lid up
    "AU6": (Part("cheek", (0.0, -0.06, -0.02), 0.2, "lower_lid"),
            Part("lower_lid", (0.0, -0.03, 0.0), 0.08, "lower_lid")),
    # lid tightener: lower lid up, upper lid slightly down
    "AU7": (Part("lower_lid", (0.0, -0.03, 0.0), 0.07, "lower_lid"),
            Part("upper_lid", (0.0, 0.012, 0.0), 0.07, "upper_lid")),
    # nose wrinkler: the nose wings go up (the bridge and tip stay: the nose keeps its length),
    # the inner brows come down
    "AU9": (Part("nose_wing", (-0.01, -0.05, 0.0), 0.08, "off_midline"),
            Part("inner_brow", (0.0, 0.04, 0.0), 0.14, "above_eyes")),
    # lip corner puller: the corner goes up and back along the cheek (the zygomaticus), the
    # cheek between corner and cheekbone bunches up with it and deepens the nasolabial fold;
    # it barely widens the mouth along the lip line
    "AU12": (Part("corner", (0.03, -0.08, 0.04), 0.11),
             Part("cheek_low", (0.02, -0.04, 0.0), 0.16)),
    # dimpler, one-sided (image-right corner): contempt
    "AU14R": (Part("corner", (0.02, -0.05, 0.04), 0.1),),
    # lip corner depressor: corners down, the skin below them too
    "AU15": (Part("corner", (0.0, 0.09, 0.0), 0.1), Part("below_corner", (0.0, 0.03, 0.0), 0.12)),
    # lower lip depressor: only the pull at the corners (the lip parting would change the speech)
    "AU16": (Part("lower_lip_side", (0.0, 0.02, 0.0), 0.08),),
    # lip stretcher: corners out, slightly down
    "AU20": (Part("corner", (0.08, 0.02, 0.0), 0.12),),
    # lip tightener: corners in
    "AU23": (Part("corner", (-0.045, 0.0, 0.0), 0.1),),
}
ONE_SIDED = {"AU14R": +1}
NOSE = (168, 6, 197, 195, 5, 4, 1)  # the nose's bridge and tip: no unit moves them  # unit -> the side (+1: image right) it acts on, unmirrored


def anchors(canonical: np.ndarray) -> dict[str, np.ndarray]:
    """Image-left anchors (x, y) of the units on a canonical mesh (468, 3)."""
    v = ibug68(canonical[:, :2]).astype(np.float64)
    lower_lid = (v[40] + v[41]) / 2
    nose_wing = v[31]
    return {
        "inner_brow": v[21], "mid_brow": v[19], "outer_brow": (v[17] + v[18]) / 2,
        "glabella": np.array([0.0, (v[21, 1] + v[22, 1]) / 2 + 0.05]),
        "upper_lid": (v[37] + v[38]) / 2, "lower_lid": lower_lid,
        # the cheek's mass: below the eye's outer half, level with the nose's middle
        "cheek": np.array([(v[36, 0] + v[41, 0]) / 2, (lower_lid[1] + nose_wing[1]) / 2 + 0.05]),
        "cheek_low": (v[48] + np.array([(v[36, 0] + v[41, 0]) / 2, nose_wing[1]])) / 2,
        "nose_wing": nose_wing, "corner": v[48],
        "below_corner": v[48] + np.array([0.0, 0.25]), "lower_lip_side": v[59],
    }


def _admits(where: str | None, canonical: np.ndarray) -> np.ndarray:
    """(468,) 0..1 which vertices a part may move."""
    v = ibug68(canonical[:, :2]).astype(np.float64)
    x, y = np.abs(canonical[:, 0]), canonical[:, 1]
    if where is None:
        return np.ones(len(canonical))
    if where == "above_eyes":  # above the upper lids' crease
        return np.clip((v[37:39, 1].mean() - 0.06 - y) / 0.05, 0, 1)
    if where == "upper_lid":  # above the eye corners (which stay: the eye's line is the face's)
        return ((y < -0.015) & (y > v[37:39, 1].mean() - 0.12)).astype(np.float64)
    if where == "lower_lid":  # below the eye line and its corners
        return np.clip((y - 0.015) / 0.03, 0, 1)
    if where == "off_midline":
        return np.clip(x / 0.12, 0, 1)
    raise ValueError(where)


def unit_field(name: str, canonical: np.ndarray) -> np.ndarray:
    """(468, 3) displacement of one unit on a canonical mesh, both halves."""
    c = np.asarray(canonical, np.float64)
    marks = anchors(c)
    out = np.zeros_like(c)
    side = ONE_SIDED.get(name)
    for part in AU_PARTS[name]:
        ax, ay = marks[part.anchor]
        admit = _admits(part.where, c)
        for s in ((-1, 1) if side is None else (side,)):
            half = (c[:, 0] * s > 0) | (np.abs(c[:, 0]) < 1e-3)
            # the anchor on this half: mirrored in x; a midline anchor serves both halves once
            mx = abs(ax) * s
            w = np.exp(-((c[:, 0] - mx) ** 2 + (c[:, 1] - ay) ** 2) / (2 * part.sigma ** 2)) * admit * half
            if abs(ax) < 1e-6 and s == 1 and side is None:
                w = w * (c[:, 0] > 1e-3)  # the midline vertices were moved by the other half
            du, dy, dz = part.move
            out[:, 0] += w * du * s
            out[:, 1] += w * dy
            out[:, 2] += w * dz
    out[list(NOSE)] = 0.0
    return out


def unit_fields(canonical: np.ndarray) -> dict[str, np.ndarray]:
    return {u: unit_field(u, canonical) for u in UNITS}


def compose(weights: dict[str, float], fields: dict[str, np.ndarray]) -> np.ndarray:
    """An emotion's (468, 3) displacement from its units' weights."""
    out = np.zeros_like(next(iter(fields.values())))
    for unit, w in weights.items():
        out = out + float(w) * fields[unit]
    return out


def view68(displacement: np.ndarray) -> np.ndarray:
    """The 68-point view (68, 2) of a (468, 3) mesh displacement (its x, y)."""
    return ibug68(np.asarray(displacement)[:, :2]).astype(np.float64)


def mirror_map(canonical: np.ndarray) -> np.ndarray:
    """(468,) the vertex at each vertex's mirror image, on a canonical mesh that is symmetric
    about x = 0 (`symmetric`)."""
    c = np.asarray(canonical, np.float64)
    d = np.linalg.norm((c * [-1, 1, 1])[:, None] - c[None], axis=-1)
    return d.argmin(1)


# the mesh's midline vertices, forehead to chin: the plane of symmetry is fitted through them
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16,
           17, 18, 200, 199, 175, 152)


def symmetric(shape: np.ndarray) -> np.ndarray:
    """A normalised mesh (468, 3) turned so that its midline lies in the plane x = 0 (a face
    filmed slightly turned), then averaged with its mirror image and normalised again."""
    s = np.asarray(shape, np.float64)
    mid = s[list(MIDLINE)]
    centre = mid.mean(0)
    normal = np.linalg.svd(mid - centre)[2][2]
    normal = normal if normal[0] >= 0 else -normal
    x = np.array([1.0, 0.0, 0.0])
    v, cos = np.cross(normal, x), float(normal @ x)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    turn = np.eye(3) + k + k @ k / (1 + cos)
    s = (s - centre) @ turn.T + centre * [0, 1, 1]
    mirror = mirror_map(s)
    s = (s + s[mirror] * [-1, 1, 1]) / 2
    return normalise_mesh(s[None])[0]


def prototypes_file(canonical: np.ndarray, weights: dict[str, dict[str, float]], **extra) -> dict:
    """The "mesh" part of a prototypes file: the canonical face, each emotion's unit weights
    and its (468, 3) displacement."""
    fields = unit_fields(canonical)
    emotions = {}
    for emotion in EMOTION_AUS:
        w = {u: round(float(weights.get(emotion, {}).get(u, 0.0)), 4) for u in EMOTION_AUS[emotion]}
        emotions[emotion] = {"aus": w, "displacement": np.round(compose(w, fields), 4).tolist()}
    return {"canonical": np.round(canonical, 4).tolist(), "emotions": emotions, **extra}


def unit_table(canonical: np.ndarray, threshold: float = 0.2) -> str:
    """Markdown: each unit, its anchors, and the vertices it moves by more than `threshold` of
    its largest move (weights/PROTOTYPES.md)."""
    lines = ["| unit | parts (anchor: outward, down, back; sigma) | vertices moved (> 20% of its largest move) |",
             "|---|---|---|"]
    for unit in UNITS:
        f = np.linalg.norm(unit_field(unit, canonical), axis=1)
        moved = np.flatnonzero(f > threshold * f.max())
        parts = "; ".join(f"{p.anchor}: {p.move[0]:+g}, {p.move[1]:+g}, {p.move[2]:+g}; {p.sigma:g}"
                          for p in AU_PARTS[unit])
        lines.append(f"| {unit} | {parts} | {len(moved)}: {', '.join(map(str, moved))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(unit_table(np.asarray(json.loads(PACKAGED_MESH.read_text())["mesh"]["canonical"])))
