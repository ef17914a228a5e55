"""Head pose from 68 landmarks (stccl.face.pose) and the edit's fade on turned heads."""

import numpy as np
import pytest

from stccl.edit.ease import PITCH_FADE, YAW_FADE, pose_factor
from stccl.face.fresh import read_landmarks
from stccl.face.pose import MEAN_FACE, head_pose


def seen(yaw=0.0, pitch=0.0, roll=0.0, noise=0.0):
    """The mean face turned (degrees, the module's signs) and projected, 60 px per IOD."""
    y, p, r = np.radians([yaw, pitch, roll])
    Ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    pts = (MEAN_FACE @ (Rz @ Rx @ Ry).T)[:, :2] * 60 + 200
    return pts + np.random.default_rng(0).normal(0, noise, pts.shape)


@pytest.mark.parametrize("ypr", [(0, 0, 0), (30, 0, 0), (-45, 0, 0), (0, 20, 0), (0, -25, 0),
                                 (20, 10, 15), (-25, -15, -10)])
def test_pose_of_a_projected_mean_face(ypr):
    got = head_pose(seen(*ypr, noise=0.5))
    assert got == pytest.approx(np.array(ypr, float), abs=4.0)


def test_pose_batches_and_marks_missing_faces():
    lmk = np.stack([seen(20), np.full((68, 2), np.nan), seen(-20)])
    got = head_pose(lmk)
    assert got.shape == (3, 3) and np.isnan(got[1]).all()
    assert got[0, 0] > 15 and got[2, 0] < -15


def test_pose_of_real_clips(shared_data, dlib_backend):
    """MEAD's front camera sees the face frontal; the LRS3 speaker OzA6 looks to the image's
    left, the s18 speaker to its right (checked by eye on their frames)."""
    def yaw(rel):
        return float(np.nanmedian(head_pose(read_landmarks(shared_data / rel, dlib_backend, every=10))[:, 0]))

    assert abs(yaw("mead/W015_level_1_neutral_030.mp4")) < 15
    assert yaw("wild/OzA6jRYjVQs_00004.mp4") < -15
    assert yaw("wild/s18.mp4") > 15


def test_pose_factor_fades_turned_views():
    assert pose_factor(0, 0) == 1.0 and pose_factor(YAW_FADE[0], PITCH_FADE[0]) == 1.0
    assert pose_factor(YAW_FADE[1], 0) == 0.0 and pose_factor(0, -PITCH_FADE[1]) == 0.0
    mid = pose_factor(-(YAW_FADE[0] + YAW_FADE[1]) / 2, 0)
    assert 0.0 < mid < 1.0 and mid == pytest.approx(pose_factor((YAW_FADE[0] + YAW_FADE[1]) / 2, 0))
    steps = [pose_factor(a, 0) for a in np.linspace(0, 90, 91)]
    assert all(b <= a for a, b in zip(steps, steps[1:]))  # never comes back up
    assert pose_factor(float("nan"), 0) == 0.0
