"""The look's regions on made-up poses and masks (no model runs): which poses are trusted, and what of the
person mask is the body."""
from __future__ import annotations

import numpy as np

from engine.look import regions as R


def _pose(points: dict[int, tuple[float, float]]) -> R.Pose:
    pts = np.zeros((33, 3), np.float32)
    for i, (x, y) in points.items():
        pts[i] = (x, y, 1.0)
    return R.Pose(pts, None)


def test_a_pose_lying_across_the_frame_is_not_trusted():
    upright = _pose({R.NOSE: (500, 80), R.L_SHOULDER: (550, 150), R.R_SHOULDER: (450, 150),
                     R.L_HIP: (530, 350), R.R_HIP: (470, 350)})
    assert R.plausible(upright, 720)
    leaning = _pose({R.NOSE: (500, 80), R.L_SHOULDER: (550, 150), R.R_SHOULDER: (450, 150),
                     R.L_HIP: (640, 330), R.R_HIP: (580, 330)})           # 30 degrees off upright: a shopper bending
    assert R.plausible(leaning, 720)
    # what the pose model read on a cup's rim (dev seed 2, 5 s): the nose on the face, the "hips" beside the
    # shoulders, below them by less than they are apart
    lying = _pose({R.NOSE: (443, 126), R.L_SHOULDER: (535, 125), R.R_SHOULDER: (543, 137),
                   R.L_HIP: (730, 185), R.R_HIP: (726, 191)})
    assert not R.plausible(lying, 720)


def _standing(mask: np.ndarray, x: int, top: int = 40, bottom: int = 700) -> None:
    """A standing body in ``mask``: head, torso with arms, two legs (centred on column ``x``)."""
    mask[top:top + 90, x - 35:x + 35] = 1.0                     # head
    mask[top + 90:top + 340, x - 80:x + 80] = 1.0               # torso
    mask[top + 100:top + 330, x - 110:x - 80] = 1.0             # arms
    mask[top + 100:top + 330, x + 80:x + 110] = 1.0
    mask[top + 340:bottom, x - 60:x - 15] = 1.0                 # legs
    mask[top + 340:bottom, x + 15:x + 60] = 1.0


def test_the_body_core_drops_what_the_segmenter_joined_to_the_person():
    person = np.zeros((720, 1280), np.float32)
    _standing(person, 700)
    alone = R.body_core(person)
    np.testing.assert_array_equal(alone > 0.5, person > 0.5)    # a lone body keeps all of it, arms included
    # a cup's rim joined to the head, reaching far to the left, and a separate blob beyond the body's reach
    person[30:70, 300:700] = 1.0
    person[300:500, 1100:1250] = 1.0
    person[620:690, 785:815] = 1.0                               # a piece beside the feet, touching nothing
    core = R.body_core(person) > 0.5
    xs = np.nonzero(core)[1]
    assert xs.min() >= 700 - 110 - 200 and xs.max() <= 700 + 110 + 5      # the rim cut near the body, the blob gone
    assert core[300, 600] and core[300, 800]                              # both arms kept
    assert not core[400, 1150] and not core[50, 320] and not core[650, 800]
    # the silhouette's box is a standing body again: upper, lower and feet
    assert [r.name for r in R.silhouette_regions(person)] == ["upper"]    # without the core: a bust
    names = [r.name for r in R.silhouette_regions(R.body_core(person))]
    assert names[:3] == ["upper", "lower", "feet"]


def test_a_bag_beside_a_dress_is_held_in_a_hand_without_a_pose():
    person = np.zeros((720, 400), np.float32)
    person[10:100, 180:220] = 1.0                               # head
    person[150:590, 150:250] = 1.0                              # a dress to 83% of the height
    person[590:690, 180:195] = person[590:690, 205:220] = 1.0   # legs below its hem, feet
    person[330:500, 230:285] = 1.0                              # a bag beside the dress, past it by a little
    hands = [r for r in R.silhouette_regions(person) if r.name == "hand"]
    assert len(hands) == 1 and hands[0].box.x <= 230 and hands[0].box.x + hands[0].box.w >= 280
    assert hands[0].box.y <= 330 and hands[0].box.y + hands[0].box.h >= 450
    person[330:500, 230:285] = 0.0                              # no bag: no hand (the dress is not one)
    assert not [r for r in R.silhouette_regions(person) if r.name == "hand"]


def test_a_body_at_the_frames_edge_keeps_its_pixels():
    person = np.zeros((400, 200), np.float32)
    person[20:380, 0:35] = 1.0                                  # a shopper half out of the frame, on the left
    assert (R.body_core(person) > 0.5).sum() == (person > 0.5).sum()
    person = np.zeros((400, 200), np.float32)
    person[20:380, 170:200] = 1.0                               # and on the right
    assert (R.body_core(person) > 0.5).sum() == (person > 0.5).sum()
    narrow = np.ones((400, 30), np.float32)                     # a frame narrower than the legs' gap
    assert (R.body_core(narrow) > 0.5).sum() == narrow.size
