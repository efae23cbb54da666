"""Where the garments are: the person's pose split into named regions, refined by the person mask.

mediapipe's pose graph (``pose_landmark_full.tflite`` ships in the mediapipe==0.10.21 wheel; the lite and heavy
models would download and fail offline) gives 33 landmarks and a person mask in one pass (~0.1 s for 720p on one
core). Regions: the upper body (shoulders to hips), the lower body (hips to ankles), the two merged into one
full-length region when they hold the same colour (a dress), the feet, and each hand's reach (a bag). A frame with
no person (a product on a table, a shelf) is one region: what stands out from the colours of the frame's border,
else the whole picture; boxes the clerk drew replace all of it.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from engine.errors import VitrineError
from engine.media.colors import colour_overlap, colour_shares, dominant_colors, rgb_to_lab
from engine.media.focus import _protobuf_shim, _quiet_stderr, PersonSegmenter

log = logging.getLogger(__name__)

VISIBLE = 0.5                 # landmark visibility under this: the body part is hidden or out of the frame
HAND_VISIBLE = 0.4            # a hand holding something is partly hidden by it
MIN_PERSON_SHARE = 0.02       # the person mask must cover this much of the frame to refine a region with it
MIN_SILHOUETTE_SHARE = 0.05   # without a pose, a person mask this large is a person (engine.media.focus's threshold)
MIN_GARMENT_SHARE = 0.2       # a region whose garment pixels fill less than this of it holds nothing

# which garments each region can hold (engine.language.vocabulary's canonical names): matches and text queries use it
KINDS: dict[str, tuple[str, ...]] = {
    "upper": ("shirt", "t-shirt", "top", "blouse", "jacket", "coat", "sweater", "sweatshirt", "kurta"),
    "lower": ("trousers", "jeans", "shorts", "skirt"),
    "full": ("dress", "coat", "kurta"),
    "feet": ("shoes", "sneakers", "sandals", "heels", "flip flops", "socks"),
    "hand": ("bag", "backpack", "wallet", "watch"),
}
ALL_GARMENTS = tuple(dict.fromkeys(g for kinds in KINDS.values() for g in kinds))
NAMES_PT = {"upper": "parte de cima", "lower": "parte de baixo", "full": "peça inteira", "feet": "pés",
            "hand": "mão", "frame": "sem pessoa", "box": "caixa"}

# mediapipe pose landmark indices
NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 0, 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
L_PINKY, R_PINKY, L_INDEX, R_INDEX = 17, 18, 19, 20
L_HEEL, R_HEEL, L_FOOT, R_FOOT = 29, 30, 31, 32


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def to_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    @classmethod
    def around(cls, x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> "Box | None":
        """The box clipped to the frame, or None when too little of it is inside."""
        x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
        x1, y1 = min(width, int(round(x1))), min(height, int(round(y1)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        return cls(x0, y0, x1 - x0, y1 - y0)


@dataclass
class GarmentRegion:
    name: str                         # upper, lower, full, feet, hand, frame or box
    box: Box
    mask: np.ndarray | None = None    # the garment's pixels inside the box (bool), None: all of it
    kinds: tuple[str, ...] = ALL_GARMENTS
    extra: dict = field(default_factory=dict)

    def crop(self, rgb: np.ndarray) -> np.ndarray:
        b = self.box
        return np.ascontiguousarray(rgb[b.y:b.y + b.h, b.x:b.x + b.w])

    def cut_out(self, rgb: np.ndarray) -> np.ndarray:
        """The crop with everything but the garment grey, as the embedder should see it (engine.media.focus does the
        same for a whole person)."""
        crop = self.crop(rgb).copy()
        if self.mask is not None:
            crop[~self.mask] = 128
        return crop


@dataclass
class Pose:
    points: np.ndarray                # (33, 3): x, y in pixels, visibility 0..1
    mask: np.ndarray | None           # person probability per pixel (H, W)

    def seen(self, *ids: int) -> bool:
        return all(self.points[i, 2] >= VISIBLE for i in ids)

    def xy(self, i: int) -> np.ndarray:
        return self.points[i, :2]


class PoseFinder:
    """One mediapipe pose graph (static images, with its segmentation), used by one thread at a time."""

    def __init__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        _protobuf_shim()
        with _quiet_stderr():
            try:
                from mediapipe.python.solution_base import SolutionBase
                from mediapipe.python.solutions import pose
            except ImportError:
                raise VitrineError("finding the garments on a person needs mediapipe: pip install --no-deps "
                                   "mediapipe==0.10.21 (`bash .ci/install` does), or draw boxes") from None
            # SolutionBase, not solutions.Pose: Pose sets two thresholds through a protobuf field API that
            # protobuf 6 removed (FieldDescriptor.label); the graph's own defaults are the same 0.5
            self._graph = SolutionBase(
                binary_graph_path=pose._BINARYPB_FILE_PATH,
                side_inputs={"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": True,
                             "smooth_segmentation": False, "use_prev_landmarks": False},
                outputs=["pose_landmarks", "segmentation_mask"])
        self._lock = threading.Lock()
        self._warm = False
        self._segmenter = None

    def person(self, rgb: np.ndarray) -> np.ndarray:
        """The selfie segmenter's person mask, for frames where the pose model found no one (a busy
        background, a person seen from an odd angle)."""
        if self._segmenter is None:
            self._segmenter = PersonSegmenter()
        return self._segmenter.mask(rgb)

    def find(self, rgb: np.ndarray) -> Pose | None:
        h, w = rgb.shape[:2]
        with self._lock:
            if not self._warm:          # the first run prints TensorFlow Lite's banners
                with _quiet_stderr():
                    result = self._graph.process({"image": np.ascontiguousarray(rgb)})
                self._warm = True
            else:
                result = self._graph.process({"image": np.ascontiguousarray(rgb)})
        if result.pose_landmarks is None:
            return None
        pts = np.array([(p.x * w, p.y * h, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        mask = None if result.segmentation_mask is None else np.asarray(result.segmentation_mask, np.float32)
        return Pose(pts, mask)

    def close(self) -> None:
        with self._lock:
            self._graph.close()
            if self._segmenter is not None:
                self._segmenter.close()


def skin(rgb: np.ndarray) -> np.ndarray:
    """Pixels that look like skin (YCrCb box; the usual one, loose on purpose): arms and necks are not the
    garment's colour."""
    import cv2
    ycc = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    # and not near-grey: a white garment under warm light (a slight pink tint, Cr ~136, Cb ~123) sits inside the
    # box's corner; skin, however pale, carries more colour than that (>= ~20 from grey)
    chroma = (cr.astype(np.int32) - 128) ** 2 + (cb.astype(np.int32) - 128) ** 2
    return (cr >= 135) & (cr <= 172) & (cb >= 80) & (cb <= 127) & (y > 60) & (chroma >= SKIN_CHROMA ** 2)


SKIN_CHROMA = 12     # how far (CrCb) from grey a pixel must be to be skin


def _refine(region: GarmentRegion, rgb: np.ndarray, person: np.ndarray | None) -> GarmentRegion | None:
    """The region's garment pixels: the person's, minus skin. None when almost nothing is left (an empty hand)."""
    if person is None or region.name in ("hand", "feet"):
        # a bag is often outside the person mask (_hands_apart); so are shoes, thin at the mask's lower edge: the
        # floor's colours and the legs' are taken out of the feet's box instead (_feet_apart)
        return region
    b = region.box
    keep = person[b.y:b.y + b.h, b.x:b.x + b.w] > 0.5
    bare = skin(region.crop(rgb))
    garment = keep & ~bare
    share = garment.mean()
    if share < MIN_GARMENT_SHARE * (0.5 if region.name != "hand" else 1.0):
        if region.name == "hand":
            return None
        # the mask missed (a loose garment, an odd pose): keep the box, not the holes
        return GarmentRegion(region.name, b, keep if keep.mean() > MIN_GARMENT_SHARE else None, region.kinds,
                             region.extra)
    return GarmentRegion(region.name, b, garment, region.kinds, region.extra)


def _lowest_row(person: np.ndarray | None, x0: float, x1: float) -> int | None:
    """The lowest row of the person mask between columns x0 and x1 (the soles, when the ankles are hidden)."""
    if person is None:
        return None
    cols = person[:, max(0, int(x0)):max(int(x0) + 1, int(x1))] > 0.5
    rows = np.nonzero(cols.any(axis=1))[0]
    return int(rows.max()) + 1 if rows.size else None


def _arms(pose: Pose) -> list[tuple[tuple[float, float], ...]]:
    """Each arm the pose sees, as (shoulder, elbow, wrist) points in the frame: how far a sleeve reaches down it
    (engine.look.shape.sleeve_hint)."""
    out = []
    for ids in ((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST)):
        if pose.seen(ids[0], ids[1]) and pose.points[ids[2], 2] >= HAND_VISIBLE:
            out.append(tuple((float(pose.xy(i)[0]), float(pose.xy(i)[1])) for i in ids))
    return out


def pose_regions(pose: Pose, width: int, height: int, person: np.ndarray | None = None) -> list[GarmentRegion]:
    """Named boxes from the landmarks (before the mask refines them); ``person`` finds the soles when the
    ankles are hidden under a long skirt or out of the pose model's reach."""
    out: list[GarmentRegion] = []
    if not pose.seen(L_SHOULDER, R_SHOULDER):
        return out
    sh_l, sh_r = pose.xy(L_SHOULDER), pose.xy(R_SHOULDER)
    shoulder_w = max(abs(sh_l[0] - sh_r[0]), 8.0)
    hips = pose.seen(L_HIP, R_HIP)
    hip_y = (pose.xy(L_HIP)[1] + pose.xy(R_HIP)[1]) / 2 if hips else min(height, sh_l[1] + 1.6 * shoulder_w)
    top_y = min(sh_l[1], sh_r[1])
    torso = max(hip_y - top_y, 8.0)
    xs = [sh_l[0], sh_r[0]] + [pose.xy(i)[0] for i in (L_ELBOW, R_ELBOW) if pose.seen(i)]
    upper = Box.around(min(xs) - 0.12 * shoulder_w, top_y - 0.12 * torso, max(xs) + 0.12 * shoulder_w,
                       hip_y + 0.08 * torso, width, height)
    if upper:
        out.append(GarmentRegion("upper", upper, kinds=KINDS["upper"], extra={"arms": _arms(pose)}))
    soles = None
    if hips and hip_y < height - 8:
        legs = [i for i in (L_ANKLE, R_ANKLE, L_KNEE, R_KNEE) if pose.seen(i)]
        lx = [pose.xy(L_HIP)[0], pose.xy(R_HIP)[0]] + [pose.xy(i)[0] for i in legs]
        pad = 0.35 * abs(pose.xy(L_HIP)[0] - pose.xy(R_HIP)[0]) + 0.05 * torso
        ankles = [pose.xy(i)[1] for i in (L_ANKLE, R_ANKLE) if pose.seen(i)]
        low = _lowest_row(person, min(lx) - pad, max(lx) + pad)
        if low is not None and low > hip_y + 0.8 * torso:
            soles = low
        bottom = max(ankles) if ankles else soles - 0.1 * torso if soles else min(height, hip_y + 1.1 * torso)
        lower = Box.around(min(lx) - pad, hip_y - 0.05 * torso, max(lx) + pad, bottom, width, height)
        if lower:
            out.append(GarmentRegion("lower", lower, kinds=KINDS["lower"]))
    feet = [i for i in (L_ANKLE, R_ANKLE, L_HEEL, R_HEEL, L_FOOT, R_FOOT) if pose.seen(i)]
    legs_box = out[-1].box if out and out[-1].name == "lower" else None
    if len(feet) < 2 and soles is not None and legs_box is not None:
        b = legs_box
        box = Box.around(b.x - 0.1 * torso, soles - 0.3 * torso, b.x + b.w + 0.1 * torso, soles + 0.05 * torso,
                         width, height)
        if box:
            out.append(GarmentRegion("feet", box, kinds=KINDS["feet"], extra={"torso": torso}))
    elif len(feet) >= 2:
        fx, fy = [pose.xy(i)[0] for i in feet], [pose.xy(i)[1] for i in feet]
        pad = 0.18 * torso
        x0, x1 = min(fx) - pad, max(fx) + pad
        if legs_box is not None:
            # two feet stand under the two legs: the pose model often puts both feet's points on one foot (or
            # loses one), so the box spans at least the legs' columns, not only the points seen
            x0, x1 = min(x0, legs_box.x), max(x1, legs_box.x + legs_box.w)
        box = Box.around(x0, min(fy) - 0.5 * pad, x1, max(fy) + pad, width, height)
        if box:
            out.append(GarmentRegion("feet", box, kinds=KINDS["feet"], extra={"torso": torso}))
    outward = 1.0 if sh_l[0] >= sh_r[0] else -1.0          # the person's left is the picture's right when facing us
    for side, points, shoulder, sign in (("left", (L_WRIST, L_PINKY, L_INDEX), sh_l, outward),
                                         ("right", (R_WRIST, R_PINKY, R_INDEX), sh_r, -outward)):
        seen = [i for i in points if pose.points[i, 2] >= HAND_VISIBLE]
        x, y = pose.points[seen, :2].mean(axis=0) if seen else (None, None)
        if x is None or y < top_y + 0.6 * torso:
            # a bag hides the hand that holds it (the model loses or misplaces it): where a hanging hand is
            if not hips:
                continue
            x, y = shoulder[0] + sign * 0.3 * shoulder_w, hip_y
        hand = _reach(x, y, torso, side, width, height)
        if hand:
            out.append(hand)
    return out


SHIN_SHARE = (0.05, 0.6)   # a row of the feet's columns with this share of skin (between) crosses bare shins; more is
                           # a skin-coloured floor or wall (a wooden table reads as skin), not two legs
SHOE_SPAN = (0.1, 0.25)     # where bare shins end, the shoes: from this much (torso lengths) above to this much below


def _feet_below_shins(rgb: np.ndarray, feet: GarmentRegion) -> GarmentRegion:
    """The feet's box moved down to where bare shins end: the pose model puts the ankles it cannot see (under a
    dress or a skirt) at the hem, so the box cut from them ends on bare legs and the shoes are lower. Kept as it is
    when the skin does not reach its bottom rows or does not go on below it."""
    torso = feet.extra.get("torso")
    if not torso:
        return feet
    h = rgb.shape[0]
    b = feet.box
    y1 = min(h, int(b.y + b.h + torso))
    if y1 - (b.y + b.h) < 0.1 * torso:
        return feet
    share = skin(rgb[b.y:y1, b.x:b.x + b.w]).mean(axis=1)
    shin = (share >= SHIN_SHARE[0]) & (share <= SHIN_SHARE[1])
    tail = max(1, int(0.1 * b.h))
    if not shin[b.h - tail:b.h].all():
        return feet
    gaps = np.nonzero(~shin[b.h:])[0]
    end = b.h + (int(gaps[0]) if gaps.size else len(shin) - b.h)     # the first row below the box with no shin
    if end - b.h < 0.1 * torso:
        return feet
    box = Box.around(b.x, b.y + end - SHOE_SPAN[0] * torso, b.x + b.w, b.y + end + SHOE_SPAN[1] * torso,
                     rgb.shape[1], h)
    if box is None:
        return feet
    log.debug("bare shins below the feet's box: moved down %d px", box.y - b.y)
    return GarmentRegion(feet.name, box, None, feet.kinds, feet.extra)


FLOOR_HELD = 0.15          # a row of the feet's columns with this share unlike the floor beside them holds a shoe
FLOOR_REACH = 0.5          # the feet's box grows down by at most this many torso lengths


def _feet_to_floor(rgb: np.ndarray, feet: GarmentRegion, person: np.ndarray | None) -> GarmentRegion:
    """The feet's box grown down to where the floor begins under it: the pose model puts ankles it cannot see well
    (under wide trouser legs) at the hem, and the box cut from them ends on the shoes' upper half. The floor is
    read beside the box (strips left and right of it, at and below its rows, off the person), not below it, where
    the shoes may be."""
    torso = feet.extra.get("torso")
    if not torso:
        return feet
    h, w = rgb.shape[:2]
    b = feet.box
    y0, y1 = b.y + b.h // 2, min(h, int(b.y + b.h + FLOOR_REACH * torso))
    if y1 <= b.y + b.h:
        return feet
    m = max(6, b.w // 6)
    strips = []
    for x0, x1 in ((max(0, b.x - 2 * m), max(0, b.x - m)), (min(w, b.x + b.w + m), min(w, b.x + b.w + 2 * m))):
        if x1 > x0:
            off = person[y0:y1, x0:x1] <= 0.5 if person is not None else np.ones((y1 - y0, x1 - x0), bool)
            strips.append(rgb[y0:y1, x0:x1][off])
    floor = _sampled_colours(np.concatenate(strips) if strips else np.zeros((0, 3), np.uint8), 3, 0.1)
    if not floor:
        return feet
    below = rgb[b.y + b.h:y1, b.x:b.x + b.w]
    held = _unlike(below, np.ones(below.shape[:2], bool), floor, BODY_DELTA_E).mean(axis=1) >= FLOOR_HELD
    ends = np.nonzero(~held)[0]
    grow = int(ends[0]) if ends.size else len(held)
    if grow < 0.03 * torso or not ends.size:       # nothing below, or no floor within reach (a busy background)
        return feet
    box = Box.around(b.x, b.y, b.x + b.w, b.y + b.h + grow + 0.03 * torso, w, h)
    return GarmentRegion(feet.name, box, None, feet.kinds, feet.extra) if box else feet


def _reach(x: float, y: float, torso: float, side: str, width: int, height: int) -> GarmentRegion | None:
    """A hand's reach for a bag: a bag hangs from the hand (or the forearm), so the box reaches below it."""
    r = 0.3 * torso
    box = Box.around(x - 0.8 * r, y - 0.3 * r, x + 0.8 * r, y + 2.2 * r, width, height)
    return GarmentRegion("hand", box, kinds=KINDS["hand"], extra={"side": side}) if box else None


BODY_DELTA_E = 22.0          # a pixel this close (CIELAB) to a body garment's colour is that garment, not a bag
BACKGROUND_DELTA_E = 16.0    # a pixel this close to a colour of the ring around a hand's box is background
MIN_BAG_SHARE = 0.12         # a hand's box whose bag pixels fill less than this holds nothing
MIN_BAG_BLOB = 0.2           # ... nor one whose largest piece of them does (fitted on look-bench dev-fit: 0.12 -> 0.2
                             # kept 85 of 86 bags, phantom bags 5 -> 0; dev-check 31 of 31, phantoms 13 -> 6)
MIN_BAG_FILL = 0.35          # a bag is compact: its pixels fill this much of their own bounding box
BAG_PIECES_NEAR = 0.16       # pieces of a hand's reach this close (share of its box's side) are one bag (its stripes
                             # or dots of the clothes' or the background's colour apart: fitted on look-bench dev-fit,
                             # 0.08 -> 0.16 bags right 88 -> 94 of 115, phantoms 0 -> 2 of 185 frames; dev-check 32 ->
                             # 35 of 50, phantoms 6 -> 8 of 100; 0.12: fit 91, check 35; 0.2 as 0.16)


def _main_colours_lab(rgb: np.ndarray, region: GarmentRegion) -> list[np.ndarray]:
    """CIELAB of a region's main colours (a quarter of it or more): what "this garment's pixels" look like."""
    out = []
    for c in dominant_colors(region.crop(rgb), region.mask, max_colors=3):
        if c.share >= 0.25:
            rgb_c = np.array([[int(c.hex[i:i + 2], 16) for i in (1, 3, 5)]], np.uint8)
            out.append(rgb_to_lab(rgb_c)[0])
    return out


def _unlike(crop: np.ndarray, keep: np.ndarray, colours: list[np.ndarray], delta: float) -> np.ndarray:
    """``keep`` minus the pixels within ``delta`` (CIELAB distance) of any of ``colours``."""
    if not colours or not keep.any():
        return keep
    lab = rgb_to_lab(crop).reshape(crop.shape[:2] + (3,))
    near = np.zeros(keep.shape, bool)
    for c in colours:
        near |= ((lab - c) ** 2).sum(-1) < delta * delta
    return keep & ~near


def _main_lab(pixels: np.ndarray, k: int, min_share: float) -> list[np.ndarray]:
    """The main colours (CIELAB) of ``pixels`` (N x 3 RGB): k-means centres holding ``min_share`` of them or more
    (OpenCV's generator seeded: the same frame gives the same colours)."""
    import cv2
    lab = rgb_to_lab(pixels)
    k = min(k, len(lab))
    cv2.setRNGSeed(0)
    _, labels, centers = cv2.kmeans(lab, k, None, (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0), 1,
                                    cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    return [centers[i] for i in range(k) if counts[i] >= min_share * len(lab)]


def _tighten(region: GarmentRegion, mask: np.ndarray, width: int, height: int, pad: int = 4) -> GarmentRegion:
    """The region cut to the bounding box of its mask's pixels (a bag is smaller than the hand's reach): the card
    shows the bag, and the embedder sees the bag, not the trousers beside it."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return region
    b = region.box
    box = Box.around(b.x + xs.min() - pad, b.y + ys.min() - pad, b.x + xs.max() + 1 + pad, b.y + ys.max() + 1 + pad,
                     width, height)
    if box is None:
        return region
    full = np.zeros((box.h, box.w), bool)           # the mask's pixels where they sit in the new box (the pad
    full[ys + b.y - box.y, xs + b.x - box.x] = True  # may reach outside the old one)
    return GarmentRegion(region.name, box, full, region.kinds, region.extra)


SKIN_DELTA_E = 45.0      # a hand's pixel this close (CIELAB) to the person's own skin (read on the face) is skin
                         # (fitted on look-bench dev-fit: 20 found 3 bags more and 13 phantoms; 30, 2 and 6; 45, 1
                         # and none; dev-check 45: one bag more, no phantom more)


def _skin_tone(rgb: np.ndarray, box: Box | None) -> np.ndarray | None:
    """The person's skin colour (CIELAB median of the skin-like pixels of ``box``, their face): a bag of a
    skin-like colour (pink, orange, beige) is not their skin unless it is close to it. None when the box shows too
    little skin."""
    if box is None:
        return None
    crop = rgb[box.y:box.y + box.h, box.x:box.x + box.w]
    on = skin(crop)
    if on.sum() < 32:
        return None
    return np.median(rgb_to_lab(crop[on]), axis=0)


def _own_skin(crop: np.ndarray, tone: np.ndarray | None) -> np.ndarray:
    """The crop's skin: skin-like pixels, only those close to the person's own skin colour when it is known."""
    bare = skin(crop)
    if tone is None or not bare.any():
        return bare
    lab = rgb_to_lab(crop).reshape(crop.shape[:2] + (3,))
    return bare & (((lab - tone) ** 2).sum(-1) < SKIN_DELTA_E * SKIN_DELTA_E)


def _face_box(pose: Pose, width: int, height: int) -> Box | None:
    """Around the nose, a fifth of the shoulders' width each way: the face (a person's skin, seen there first)."""
    if not pose.seen(NOSE, L_SHOULDER, R_SHOULDER):
        return None
    x, y = pose.xy(NOSE)
    r = max(4.0, 0.2 * abs(pose.xy(L_SHOULDER)[0] - pose.xy(R_SHOULDER)[0]))
    return Box.around(x - r, y - r, x + r, y + r, width, height)


def _head_box(person: np.ndarray) -> Box | None:
    """A standing silhouette's head: the top 12% of its height, over the columns the mask holds there."""
    on = person > 0.5
    ys = np.nonzero(on.any(axis=1))[0]
    if ys.size == 0:
        return None
    y0, y1 = int(ys.min()), int(ys.min() + 0.12 * (ys.max() + 1 - ys.min()))
    xs = np.nonzero(on[y0:y1 + 1].any(axis=0))[0]
    return Box.around(xs.min(), y0, xs.max() + 1, y1, on.shape[1], on.shape[0]) if xs.size else None


def _hands_apart(rgb: np.ndarray, regions: list[GarmentRegion], person: np.ndarray | None,
                 tone: np.ndarray | None = None) -> list[GarmentRegion]:
    """What a hand holds: the pixels of its reach that are not skin, not the body's garments (an arm hangs over
    the shirt, a bag beside the trousers) and not the background around it (the colours of the ring outside the
    box, off the person), in one compact piece (``_solid``: its holes filled), the box cut to it. The person mask
    alone misses most bags in front of a busy background (a fifth of the bag's pixels on a photograph). A hand with
    little left holds nothing: the person's pixels beside the body are not taken for a bag of the body's colours
    (they were the hands, a skirt's flare, a sleeve: look-bench dev, 28 of 46 phantom bags in 285 frames without
    one, for one bag more)."""
    h, w = rgb.shape[:2]
    body = [r for r in regions if r.name in ("upper", "lower", "full")]
    colours = [c for r in body for c in _main_colours_lab(rgb, r)]
    out = []
    for r in regions:
        if r.name != "hand":
            out.append(r)
            continue
        crop = r.crop(rgb)
        mask = _unlike(crop, ~_own_skin(crop, tone), colours, BODY_DELTA_E)
        mask = _unlike(crop, mask, _around(rgb, r.box, person), BACKGROUND_DELTA_E)
        if mask.mean() < MIN_BAG_SHARE:
            continue
        near = int(BAG_PIECES_NEAR * min(r.box.w, r.box.h))
        blob = _largest_blob(mask, near)
        if blob.mean() < MIN_BAG_BLOB:           # the bag's own pixels, before its holes are filled
            continue
        blob = _solid(blob, near)
        ys, xs = np.nonzero(blob)
        fill = blob.sum() / max(1, (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
        if fill >= MIN_BAG_FILL:
            out.append(_tighten(r, blob, w, h))
    return out


def _around(rgb: np.ndarray, b: Box, person: np.ndarray | None, k: int = 4) -> list[np.ndarray]:
    """The main colours (CIELAB) of the ring around a box, off the person: the background behind what a hand
    holds."""
    m = max(6, min(b.w, b.h) // 4)          # the ring: from m to 2m outside the box (a bag can overhang it a little)
    return _ring_colours(rgb, b, person, m, 2 * m, k, 0.08)


def _ring_colours(rgb: np.ndarray, b: Box, person: np.ndarray | None, gap: int, reach: int, k: int,
                  min_share: float, above: bool = True) -> list[np.ndarray]:
    """The main colours (CIELAB) of what lies from ``gap`` to ``reach`` pixels outside a box (not above it unless
    ``above``), off the person mask where there is one; none when fewer than 32 pixels are there."""
    h, w = rgb.shape[:2]
    x0, x1 = max(0, b.x - reach), min(w, b.x + b.w + reach)
    y0, y1 = (max(0, b.y - reach) if above else b.y), min(h, b.y + b.h + reach)
    ring = np.ones((y1 - y0, x1 - x0), bool)
    ring[max(0, b.y - gap - y0):b.y + b.h + gap - y0, max(0, b.x - gap - x0):b.x + b.w + gap - x0] = False
    if person is not None:
        ring &= person[y0:y1, x0:x1] <= 0.5
    return _sampled_colours(rgb[y0:y1, x0:x1][ring], k, min_share)


def _sampled_colours(pixels: np.ndarray, k: int, min_share: float) -> list[np.ndarray]:
    """``_main_lab`` of at most 4000 of ``pixels`` (a fixed draw: the same frame gives the same colours); none when
    fewer than 32 are there (a background too thin to tell)."""
    if len(pixels) < 32:
        return []
    if len(pixels) > 4000:
        pixels = pixels[np.random.default_rng(0).choice(len(pixels), 4000, replace=False)]
    return _main_lab(pixels, k, min_share)


def _solid(blob: np.ndarray, near: int) -> np.ndarray:
    """A bag's pixels as one solid piece: gaps up to ``near`` pixels closed and the holes inside its outline filled
    (a striped or dotted bag whose stripes or dots share a colour with the clothes or the background is left with
    holes by the colour tests; the bag is all of it: its fill, its colours and the embedder's cut-out)."""
    import cv2
    pad = max(1, near)                   # the reach's edge is not the bag's: closing pads with nothing there
    m = np.pad(blob.astype(np.uint8), pad)
    if near > 1:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((near | 1, near | 1), np.uint8))
    cv2.floodFill(m, None, (0, 0), 2)
    return (m[pad:-pad, pad:-pad] != 2) | blob


def _largest_blob(mask: np.ndarray, near: int = 0) -> np.ndarray:
    """The largest connected group of pixels (a bag is one piece; stray edges of other garments are not);
    ``near``: pieces this many pixels apart or closer count as one (a striped bag whose stripes share a colour with
    the clothes or the background is left in strips)."""
    import cv2
    grown = mask.astype(np.uint8)
    if near > 0:
        grown = cv2.dilate(grown, np.ones((near | 1, near | 1), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    if n <= 2:
        return mask
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == best) & mask


def _feet_apart(rgb: np.ndarray, regions: list[GarmentRegion], person: np.ndarray | None = None) \
        -> list[GarmentRegion]:
    """The feet's pixels: the box minus skin, minus the lower garment's colour (trouser legs reach the shoes) and
    minus the floor (the colours around the box, off the person: engine.look.regions._floor); kept as they were
    when that leaves too little."""
    lower = [r for r in regions if r.name in ("lower", "full")]
    colours = [c for r in lower for c in _main_colours_lab(rgb, r)]
    out = []
    for r in regions:
        if r.name != "feet":
            out.append(r)
            continue
        b = r.box
        crop = r.crop(rgb)
        keep = (r.mask if r.mask is not None else np.ones(crop.shape[:2], bool)) & ~skin(crop)
        floor = _unlike(crop, keep, _floor(rgb, b, person), BODY_DELTA_E)
        # the trousers' colours out of the box's top part, where the legs reach into it (the shoes are below:
        # white trainers under white-striped trousers keep their white); when that leaves too little, the floor's
        # alone
        top = int(LEGS_REACH * b.h)
        legs = floor.copy()
        legs[:top] = _unlike(crop[:top], floor[:top], colours, BODY_DELTA_E)
        candidates = [legs, floor]
        worn = keep & (person[b.y:b.y + b.h, b.x:b.x + b.w] > 0.5) if person is not None else None
        if worn is not None and worn[top:].mean() >= MIN_FEET_SHARE:
            # the person mask holds the shoes (a real segmenter mostly does): it bounds them, and the floor's colours
            # are not taken out of them (white shoes on a white floor had left only the trousers' hems)
            worn_legs = worn.copy()
            worn_legs[:top] = _unlike(crop[:top], worn[:top], colours, BODY_DELTA_E)
            candidates = [legs & worn, worn_legs, worn]
        for mask in candidates:
            if mask.mean() >= MIN_FEET_SHARE:
                out.append(GarmentRegion(r.name, b, mask, r.kinds, r.extra))
                break
        else:
            out.append(r)
    return out


MIN_FEET_SHARE = 0.08     # the feet's box keeps at least this share of its pixels as shoes, else its mask stays
LEGS_REACH = 0.5          # the top share of the feet's box where trouser legs reach into it


def _floor(rgb: np.ndarray, b: Box, person: np.ndarray | None, k: int = 3) -> list[np.ndarray]:
    """The main colours (CIELAB) of the floor or wall around the feet: a ring a little away from the box (a shoe
    overhangs a box cut from the pose's points), off the person mask where there is one (the legs above, the
    shoes themselves), and not above the box (the legs and the lower garment are there)."""
    m = max(4, min(b.w, b.h) // 4)
    return _ring_colours(rgb, b, person, m, 3 * m, k, 0.15, above=False)


def _garment_colour(rgb: np.ndarray, region: GarmentRegion, bare: np.ndarray | None, own: list) -> list:
    """The region's main colour, for telling one garment from two: measured on ``bare``, its mask without the
    pixels of the background's colours (``_bare``), which the person mask lets in beside a sleeveless dress's arms;
    ``own`` (its colours on all of its mask) when that is None (a white top on a white wall)."""
    if region.mask is None or not own or own[0].share >= 0.5 or bare is None:    # nothing the background changes
        return own
    out = dominant_colors(region.crop(rgb), bare, max_colors=1)
    # the background's colours may raise the leading colour's share, never change which colour leads (an orange
    # skirt in front of an orange cat would leave only the top's hem)
    return out if out and out[0].en == own[0].en else own


def _bare(rgb: np.ndarray, region: GarmentRegion, person: np.ndarray | None) -> np.ndarray | None:
    """The region's mask without the background's colours (the ring around its box, off the person); None when
    that would leave under half of it (a white top on a white wall)."""
    if region.mask is None:
        return None
    bare = _unlike(region.crop(rgb), region.mask, _around(rgb, region.box, person), BACKGROUND_DELTA_E)
    return bare if bare.sum() >= 0.5 * region.mask.sum() else None


MERGE_MIX_OVERLAP = 0.75     # a dress's two halves show the same colours in about the same shares (a striped dress:
                             # both stripes in each); a black tee with a big white print over black jeans, 0.56


def _mix(rgb: np.ndarray, region: GarmentRegion, bare: np.ndarray | None) -> dict[str, float]:
    """A half's colour mix (name -> share), read on ``bare`` where there is one, else on its mask."""
    return colour_shares(dominant_colors(region.crop(rgb), bare if bare is not None else region.mask, max_colors=4))


def _same_colour(a: list, b: list) -> bool:
    return bool(a and b) and a[0].en == b[0].en and a[0].share >= 0.5 and b[0].share >= 0.5


def _merge_same_colour(rgb: np.ndarray, regions: list[GarmentRegion], person: np.ndarray | None) \
        -> list[GarmentRegion]:
    """Upper and lower body of one colour are one full-length garment (a dress)."""
    upper = next((r for r in regions if r.name == "upper"), None)
    lower = next((r for r in regions if r.name == "lower"), None)
    if not (upper and lower):
        return regions
    a = dominant_colors(upper.crop(rgb), upper.mask, max_colors=1)
    b = dominant_colors(lower.crop(rgb), lower.mask, max_colors=1)
    if not (a and b and a[0].en == b[0].en):      # the leading colours differ: two garments (the background's
        return regions                            # colours never change which leads: _garment_colour)
    if not _same_colour(a, b):
        # one colour may lead both halves only once the background is out: one garment then only if the halves'
        # whole mixes agree too (without it a printed tee over jeans of the print's ground colour became a dress)
        bare_u, bare_l = _bare(rgb, upper, person), _bare(rgb, lower, person)
        if not (_same_colour(_garment_colour(rgb, upper, bare_u, a), _garment_colour(rgb, lower, bare_l, b))
                and colour_overlap(_mix(rgb, upper, bare_u), _mix(rgb, lower, bare_l)) >= MERGE_MIX_OVERLAP):
            return regions
    b0, b1 = upper.box, lower.box
    x0, y0 = min(b0.x, b1.x), b0.y
    box = Box(x0, y0, max(b0.x + b0.w, b1.x + b1.w) - x0, b1.y + b1.h - y0)
    mask = None
    if person is not None:
        mask = (person[box.y:box.y + box.h, box.x:box.x + box.w] > 0.5) & \
            ~skin(rgb[box.y:box.y + box.h, box.x:box.x + box.w])
    return [GarmentRegion("full", box, mask, KINDS["full"], dict(upper.extra))] + \
        [r for r in regions if r.name not in ("upper", "lower")]


def plausible(pose: Pose, height: int) -> bool:
    """A pose worth cutting regions from: nose above the shoulders above the hips (when seen), and the shoulders
    and hips on the person mask (the pose model sometimes "finds" a body in a busy background)."""
    if not pose.seen(L_SHOULDER, R_SHOULDER):
        return False
    sh_y = (pose.xy(L_SHOULDER)[1] + pose.xy(R_SHOULDER)[1]) / 2
    if pose.seen(NOSE) and pose.xy(NOSE)[1] >= sh_y:
        return False
    if pose.seen(L_HIP, R_HIP):
        sh_x = (pose.xy(L_SHOULDER)[0] + pose.xy(R_SHOULDER)[0]) / 2
        hip_x, hip_y = (pose.xy(L_HIP)[0] + pose.xy(R_HIP)[0]) / 2, (pose.xy(L_HIP)[1] + pose.xy(R_HIP)[1]) / 2
        # the hips below the shoulders, the torso upright (leaning under 45 degrees): a body lying across the
        # frame is the pose model's reading of the background (a cup's rim), not a shopper
        if hip_y - sh_y <= abs(hip_x - sh_x):
            return False
    if pose.mask is not None:
        mh, mw = pose.mask.shape
        ids = [i for i in (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP) if pose.seen(i)]
        on = [pose.mask[min(mh - 1, max(0, int(pose.xy(i)[1]))), min(mw - 1, max(0, int(pose.xy(i)[0])))] > 0.5
              for i in ids]
        if sum(on) < max(1, len(ids) - 1):
            return False
    return True


def find_regions(rgb: np.ndarray, finder: PoseFinder | None, boxes: list[Box] | None = None) -> \
        tuple[str, list[GarmentRegion]]:
    """(how, regions): "box" for the clerk's boxes, "pose" for a person's garments found by their pose,
    "person" for a person the pose model missed (cut by the body's proportions), else "frame"."""
    h, w = rgb.shape[:2]
    if boxes:
        return "box", [GarmentRegion("box", b) for b in boxes]
    pose = finder.find(rgb) if finder is not None else None
    if pose is not None and not plausible(pose, h):
        log.debug("the pose found is not a standing body: using the person mask")
        pose = None
    if pose is not None:
        person = pose.mask if pose.mask is not None and (pose.mask > 0.5).mean() >= MIN_PERSON_SHARE else None
        regions = [_feet_to_floor(rgb, _feet_below_shins(rgb, r), person) if r.name == "feet" else r
                   for r in pose_regions(pose, w, h, person)]
        regions = [r for r in (_refine(r, rgb, person) for r in regions) if r is not None]
        tone = _skin_tone(rgb, _face_box(pose, w, h))
        regions = _merge_same_colour(rgb, _hands_apart(rgb, regions, person, tone), person)
        regions = _feet_apart(rgb, regions, person)
        if regions:
            return "pose", regions
    if finder is not None:
        person = finder.person(rgb)
        if (person > 0.5).mean() >= MIN_SILHOUETTE_SHARE and _shows_skin(rgb, person):
            person = body_core(person)
            regions = [r for r in (_refine(r, rgb, person) for r in silhouette_regions(person)) if r is not None]
            regions = _silhouette_reach(person, regions, w, h)
            tone = _skin_tone(rgb, _head_box(person))
            regions = _feet_apart(rgb, _merge_same_colour(rgb, _hands_apart(rgb, regions, person, tone), person),
                                  person)
            if regions:
                return "person", regions
    return "frame", [product_region(rgb)]


MIN_SKIN_SHARE = 0.01        # a silhouette with less skin than this (no face, no hands) is a product, not a person
FOREGROUND_DELTA_E = 16.0    # a pixel this close (CIELAB) to a colour of the frame's border is the background
MIN_PRODUCT_SHARE = 0.01     # a product shot's foreground covers between this much of the frame...
MAX_PRODUCT_SHARE = 0.85     # ... and this much; else the whole frame is the region
PIECE_SHARE = 0.15           # the product's pieces (near ones joined): each this share of the largest or more


def _shows_skin(rgb: np.ndarray, person: np.ndarray) -> bool:
    """Whether the person mask holds some skin (a face, hands): the segmenter also takes a product standing on a
    plain wall (a pair of white shoes) for a person."""
    on = person > 0.5
    step = max(1, int(np.sqrt(on.size / 60000)))            # a sample is enough: ~60k pixels
    sub, sub_rgb = on[::step, ::step], rgb[::step, ::step]
    return bool(sub.any()) and float(skin(sub_rgb)[sub].mean()) >= MIN_SKIN_SHARE


def product_region(rgb: np.ndarray) -> GarmentRegion:
    """A frame with no person (a product on a table, against a wall): the product is what differs from the
    colours of the frame's border, in one or a few large pieces; the region is cut to them, so the embedder and the
    colours see the product, not the wall. The whole frame when nothing stands out or everything does."""
    import cv2
    h, w = rgb.shape[:2]
    whole = GarmentRegion("frame", Box(0, 0, w, h))
    step = max(1, int(np.sqrt(h * w / 80000)))               # measured on a ~80k-pixel copy (~0.02 s for 720p)
    small = np.ascontiguousarray(rgb[::step, ::step])
    sh, sw = small.shape[:2]
    m = max(2, min(sh, sw) // 30)
    ring = np.ones((sh, sw), bool)
    ring[m:sh - m, m:sw - m] = False
    pixels = small[ring]
    if len(pixels) < 32:
        return whole
    border = _main_lab(pixels, 3, 0.1)
    fg = _unlike(small, np.ones((sh, sw), bool), border, FOREGROUND_DELTA_E)
    if not MIN_PRODUCT_SHARE <= fg.mean() <= MAX_PRODUCT_SHARE:
        return whole
    near = max(3, min(sh, sw) // 12) | 1               # pieces this close are one product (a bag and its handle)
    grown = cv2.dilate(fg.astype(np.uint8), np.ones((near, near), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    if n <= 1:
        return whole
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.isin(labels, 1 + np.nonzero(areas >= PIECE_SHARE * areas.max())[0]) & fg
    ys, xs = np.nonzero(keep)
    box = Box.around(xs.min() * step - step, ys.min() * step - step, (xs.max() + 2) * step, (ys.max() + 2) * step,
                     w, h)
    if box is None:
        return whole
    full = cv2.resize(keep.astype(np.uint8), (sw * step, sh * step), interpolation=cv2.INTER_NEAREST)[:h, :w]
    mask = full[box.y:box.y + box.h, box.x:box.x + box.w].astype(bool)
    if mask.shape != (box.h, box.w) or mask.mean() < 0.05:
        return whole
    return GarmentRegion("frame", box, mask)


CORE_MASS = 0.6     # columns holding this share of the fullest column's person pixels: the body's core (head,
                    # torso and legs stacked: a standing body's columns are its height tall, an object's beside it
                    # are not)
CORE_REACH = 0.75   # the body reaches this many core widths beyond each side of its core (sleeves, arms, a bag)


def body_core(person: np.ndarray) -> np.ndarray:
    """The person mask without what the segmenter took for the person beside the body: without a pose, a busy
    background's object (a cup's rim, a cat's cheek) joins the mask and widens its box until the body no longer
    reads as standing. The body is the band of columns around the fullest one where the mask is nearly as tall
    (the core), widened by CORE_REACH of its width each side; the mask's pieces that do not reach the core are
    dropped, and so is all of it outside the band."""
    import cv2
    on = person > 0.5
    mass = on.sum(axis=0).astype(np.float32)
    if not mass.any():
        return person
    w = on.shape[1]
    rows = np.nonzero(on.any(axis=1))[0]
    gap = min(max(1, int(0.1 * (rows.max() + 1 - rows.min()))) | 1, w)   # the legs' gap is inside the core
    peak = int(mass.argmax())
    high = np.convolve((mass >= CORE_MASS * mass[peak]).astype(np.float32), np.ones(gap, np.float32),
                       mode="same") > 0
    left = np.nonzero(~high[:peak])[0]
    right = np.nonzero(~high[peak:])[0]
    # the run around the peak, gaps bridged, less what the bridging added (not at the frame's edge: none there)
    x0 = int(left.max()) + 1 + gap // 2 if left.size else 0
    x1 = peak + int(right.min()) - gap // 2 if right.size else w
    if x1 <= x0:
        return person
    reach = int(CORE_REACH * (x1 - x0))
    a, b = max(0, x0 - reach), min(w, x1 + reach)
    band = np.zeros_like(on)
    band[:, a:b] = on[:, a:b]
    n, labels = cv2.connectedComponents(band.astype(np.uint8), connectivity=8)
    if n > 2:
        touching = np.unique(labels[:, x0:x1][band[:, x0:x1]])
        band &= np.isin(labels, touching[touching > 0])
    return np.where(band, person, 0).astype(person.dtype)


def silhouette_regions(person: np.ndarray) -> list[GarmentRegion]:
    """Regions by the body's usual proportions inside the person mask's box: a standing figure (taller than
    1.8 of its rows' median width) has its head in the top 14%, the upper body to 52%, the lower body to 93%, the
    feet below; a shorter silhouette (a bust, a seated person) is an upper body below its head."""
    h, w = person.shape
    on = person > 0.5
    ys = np.nonzero(on.any(axis=1))[0]
    if ys.size == 0:
        return []
    y0, y1 = ys.min(), ys.max() + 1
    height = y1 - y0
    # the body's usual width is its rows' median, not the widest: a piece of the background the segmenter joined to
    # the person (a cup's rim beside the head) widens a few rows, not the legs or the torso
    rows = on.sum(axis=1)
    standing = height > 1.8 * float(np.median(rows[rows > 0]))
    bands = [("upper", 0.14, 0.52), ("lower", 0.48, 0.93), ("feet", 0.9, 1.0)] if standing else \
        [("upper", 0.3, 1.0)]
    out = []
    for name, a, b in bands:
        top, bottom = y0 + int(a * height), y0 + int(b * height)
        cols = np.nonzero(on[top:bottom].any(axis=0))[0]
        if cols.size == 0:
            continue
        x0, x1 = cols.min(), cols.max() + 1
        if name == "feet" and out and out[-1].name == "lower":     # two feet under the two legs (a shoe the
            x0, x1 = min(x0, out[-1].box.x), max(x1, out[-1].box.x + out[-1].box.w)   # mask missed included)
        box = Box.around(x0, top, x1, bottom, w, h)
        if box:
            out.append(GarmentRegion(name, box, kinds=KINDS[name]))
    if standing:
        out += _silhouette_hands(on, y0, height, w, h)
    return out


LEGS_FROM, LEGS_TO = 0.78, 0.93     # a standing silhouette's legs, as shares of its height (the feet start at 0.9+)


def _silhouette_hands(on: np.ndarray, y0: int, height: int, w: int, h: int) -> list[GarmentRegion]:
    """Without a pose, the hands' reach from the silhouette: at the hips' height (45-75% down), what sticks out
    beside the legs (measured lower down, 78-88%, where nothing is carried) is held in a hand."""
    # the legs: the narrowest of the rows 78-93% down (below a dress's or a skirt's hem, where there is one)
    spans = []
    for y in range(y0 + int(LEGS_FROM * height), y0 + int(LEGS_TO * height)):
        xs = np.nonzero(on[y])[0]
        if xs.size:
            spans.append((int(xs.max()) + 1 - int(xs.min()), int(xs.min()), int(xs.max()) + 1))
    if not spans:
        return []
    _, lx0, lx1 = min(spans)
    top, bottom = y0 + int(0.45 * height), y0 + int(0.75 * height)
    band = on[top:bottom]
    out = []
    for side, cols in (("left", band[:, lx1:]), ("right", band[:, :lx0])):
        xs = np.nonzero(cols.any(axis=0))[0]
        if xs.size == 0:
            continue
        x0, x1 = (lx1 + xs.min(), lx1 + xs.max() + 1) if side == "left" else (xs.min(), xs.max() + 1)
        if x1 - x0 < 0.06 * height:          # an arm's width: nothing held
            continue
        box = Box.around(x0, top, x1, bottom, w, h)
        if box:
            out.append(GarmentRegion("hand", box, kinds=KINDS["hand"], extra={"side": side}))
    return out


ARMS_FROM = 0.7     # the arms hang beside the upper body's lowest rows: from this share of its height down


def _silhouette_reach(person: np.ndarray, regions: list[GarmentRegion], width: int, height: int) \
        -> list[GarmentRegion]:
    """Without a pose, each hand's reach where a silhouette's arms hang: at the upper body's lower edge (the hips'
    height), just inside the mask's outermost columns there (the arms, beside the torso), for each side where
    nothing was seen sticking out (``_silhouette_hands``). What a reach holds is judged as a pose's hand is
    (``_hands_apart``): a bag of a colour the segmenter left out of the mask is found too."""
    upper = next((r for r in regions if r.name == "upper"), None)
    if upper is None or not any(r.name in ("lower", "feet") for r in regions):     # a standing body only
        return regions
    b = upper.box
    rows = person[b.y + int(ARMS_FROM * b.h):b.y + b.h, b.x:b.x + b.w] > 0.5
    cols = np.nonzero(rows.any(axis=0))[0]
    if cols.size == 0:
        return regions
    inset = 0.06 * b.w
    seen = {r.extra.get("side"): r.box for r in regions if r.name == "hand"}
    out = [r for r in regions if r.name != "hand"]
    for side, x in (("left", b.x + cols.max() + 1 - inset), ("right", b.x + cols.min() + inset)):
        hand = _reach(x, b.y + b.h, b.h, side, width, height)
        if hand and side in seen:
            # what sticks out beside the legs is the arm or a bag the mask holds: the reach spans it too
            a, o = hand.box, seen[side]
            box = Box.around(min(a.x, o.x), min(a.y, o.y), max(a.x + a.w, o.x + o.w), max(a.y + a.h, o.y + o.h),
                             width, height)
            hand = GarmentRegion("hand", box, kinds=KINDS["hand"], extra={"side": side}) if box else None
        if hand:
            out.append(hand)
        elif side in seen:
            out.append(next(r for r in regions if r.name == "hand" and r.extra.get("side") == side))
    return out
