# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Synthetic pose-driven salient object ranking datasets (embedded default).

The real benchmarks (ASSR, IRSR) cannot be downloaded here, so this module
renders small scenes in exactly their on-disk format::

    out_dir/synthetic_train.json
    out_dir/synthetic_test.json
    out_dir/images/train/000001.jpg ...
    out_dir/images/test/000001.jpg ...

Scene content (both rules)
--------------------------
* A textured background (two-colour gradient, faint stripes, noise) in
  muted colours.
* Stick-figure people drawn from a COCO-17 skeleton: a skin-coloured head
  and thick limbs and torso in one saturated clothing colour per person.
  Every person points with one straight arm (shoulder, elbow and wrist on
  one line) and turns the head towards the pointing side; the other arm
  hangs down, bent towards the body at the elbow. Each person points at a
  different object, its *target* (rarely, after many failed tries, a
  person does not point).
* Objects that all look alike: one shape (disc, square, triangle or
  diamond) and one colour per scene, sizes within +-10 %. At least one
  further object, a *decoy*, is pointed at by nobody and lies at least 25
  degrees away from every pointing direction.

Rule ``'pointing'`` (pose decides *which* objects are salient)
--------------------------------------------------------------
1-3 people at clearly different sizes (each 65-80 % the height of the
previous one), pointing from 55 degrees above to 35 degrees below the
horizontal.

1. People are ranked by size, largest first.
2. Right after each person comes the object that person points at.

Decoys are not salient and are not annotated.

Rule ``'pose_order'`` (pose alone decides the order of look-alikes)
-------------------------------------------------------------------
2 or 3 people of similar, independently drawn sizes (34-44 % of the image
height, so size says nothing about their order), and *every* object is
salient and annotated. Their pointing elevations differ by at least 20
degrees.

1. People are ranked by the elevation of their pointing arm, the one
   pointing highest first.
2. Right after each person comes the object that person points at.
3. The decoys come last, ordered by their angle to the first person's
   pointing ray (seen from its pointing shoulder), smallest angle first.

In both rules targets and decoys look the same and proximity does not give
the target away, so only the pose (arm direction and head turn) tells
which object follows which person.

Annotations
-----------
COCO-style like PoseSOR's: visible-pixel instance masks as compressed RLE
(occlusions are resolved when rendering), ``bbox`` (xywh, from the mask),
``area``, ``category_id`` and ``visiting_order`` (both the rank),
``class_id`` (1 = person; objects use a fixed COCO-like id per shape),
``keypoints`` (17 x [x, y, v]; v = 2 visible, 1 occluded by another
instance; zeros for objects), ``num_keypoints``, ``iscrowd`` and, on a
pointing person, ``points_at`` (the annotation id of its target; read by
:mod:`posesor.evaluation.pose_order`).

Reproducibility
---------------
Each image draws from its own ``numpy`` generator seeded with
``(seed, split, index)``. The geometry is snapped to a 1/8-pixel grid
before anything is drawn, and every mask, the background and the face
marks are rasterised with integer arithmetic in numpy (no drawing library,
no float reductions, no threads), so the annotation files are
byte-identical for a seed on any machine with the pinned numpy and
pycocotools; :func:`annotation_digest` fingerprints them. The rendered
pixels are equally exact; the JPEG files are as exact as the pinned
OpenCV's JPEG codec (the annotations never depend on it).
"""
import hashlib
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

SPLITS = ('train', 'test')
#: Stored in the annotation files' ``info``; bump it with every change of
#: the output, so that tools regenerate stale data.
GENERATOR_VERSION = 2
#: Ranking rules, see the module docstring.
RULES = ('pointing', 'pose_order')
NUM_KEYPOINTS = 17
PERSON_CLASS_ID = 1
# COCO-like class ids for the object shapes (only "1 = person" matters).
SHAPE_CLASS_IDS = dict(disc=37, square=73, triangle=44, diamond=47)
SHAPES = tuple(SHAPE_CLASS_IDS)
IMAGE_EXT = '.jpg'
JPEG_QUALITY = 95
#: Sub-pixel grid of all geometry: coordinates are multiples of 1/8 px.
GRID = 8
#: Length of the hex digest printed by the demo.
DIGEST_CHARS = 12

# Clothing colours of people (RGB), saturated and distinct.
PERSON_COLOURS = ((220, 40, 40), (40, 90, 230), (30, 170, 60), (150, 40, 200),
                  (240, 140, 20))
SKIN_COLOURS = ((240, 200, 160), (200, 150, 110), (140, 95, 65))
# Object colours (RGB), different from the clothing colours.
OBJECT_COLOURS = ((250, 220, 30), (20, 200, 210), (250, 90, 180), (255, 255,
                                                                   255))
FACE_MARK_COLOUR = (30, 30, 30)

# Body proportions as fractions of the person height ``h`` (top of the
# head to the ankles), measured from the hip centre (y grows downwards).
HEAD_RADIUS = 0.085
HEAD_CENTRE_Y = -0.42
SHOULDER_Y = -0.29
SHOULDER_HALF_WIDTH = 0.12
HIP_HALF_WIDTH = 0.075
KNEE_Y = 0.23
ANKLE_Y = 0.45
UPPER_ARM = 0.19
FOREARM = 0.19
LIMB_THICKNESS = 0.07
MIN_THICKNESS = 2

# Scene sampling, rule 'pointing'.
PEOPLE_PROBS = (0.4, 0.4, 0.2)  # 1, 2 or 3 people
FIRST_HEIGHT = (0.48, 0.62)  # fraction of the image size
NEXT_HEIGHT_RATIO = (0.65, 0.8)
# Scene sampling, rule 'pose_order'.
POSE_ORDER_PEOPLE_PROBS = (0.0, 0.55, 0.45)  # 2 or 3 people
POSE_ORDER_HEIGHT = (0.34, 0.44)  # each person independently
MIN_ELEVATION_GAP = math.radians(20.0)
# Both rules.
MAX_OBJECTS = 4
OBJECT_RADIUS = (0.06, 0.085)  # fraction of the image size
OBJECT_JITTER = 0.1
MIN_DECOY_ANGLE = math.radians(25.0)
# pointing angle above / below the horizontal
MAX_ELEVATION_UP = math.radians(55.0)
MAX_ELEVATION_DOWN = math.radians(35.0)
HANGING_ELBOW_BEND = (math.radians(30.0), math.radians(50.0))
MIN_VISIBLE_FRACTION = 0.6
MAX_TRIES = 60

# Background: gradient between two muted colours, triangle-wave stripes and
# uniform integer noise.
BACKGROUND_LEVELS = (70, 170)
STRIPE_AMPLITUDE = (6, 14)
STRIPE_PERIOD = (8, 24)  # pixels
NOISE_AMPLITUDE = 6

# COCO-17 keypoint indices.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
BODY_LINES = ((L_SHO, R_SHO), (L_HIP, R_HIP), (L_SHO, L_HIP), (R_SHO, R_HIP),
              (L_SHO, L_ELB), (L_ELB, L_WRI), (R_SHO, R_ELB), (R_ELB, R_WRI),
              (L_HIP, L_KNEE), (L_KNEE, L_ANK), (R_HIP, R_KNEE), (R_KNEE,
                                                                  R_ANK))


def _unit(angle: float) -> np.ndarray:
    """(cos, sin) of an angle with the C library's scalar functions (numpy's
    vectorised ones may differ in the last bit between CPUs)."""
    return np.array([math.cos(angle), math.sin(angle)])


def _snap(values) -> np.ndarray:
    """Coordinates (pixels) -> int64 multiples of 1 / GRID pixel."""
    return np.round(np.asarray(values, dtype=np.float64) * GRID).astype(
        np.int64)


class _Person:
    """A stick figure: keypoints (17, 2) in pixels plus drawing info."""

    def __init__(self, keypoints: np.ndarray, height: float,
                 colour: Tuple[int, int, int], skin: Tuple[int, int, int],
                 facing: int) -> None:
        self.keypoints = keypoints
        self.height = height
        self.colour = colour
        self.skin = skin
        self.facing = facing  # -1 image-left, +1 image-right, 0 front
        self.target: Optional[int] = None
        # pointing ray: shoulder (pixels) and angle (radians, image axes)
        self.ray: Optional[Tuple[np.ndarray, float]] = None

    @property
    def body_box(self) -> np.ndarray:
        """xyxy box around head, torso and legs (arms excluded)."""
        h = self.height
        hip = (self.keypoints[L_HIP] + self.keypoints[R_HIP]) / 2
        half = 0.17 * h
        return np.array([
            hip[0] - half, hip[1] + (HEAD_CENTRE_Y - HEAD_RADIUS) * h,
            hip[0] + half, hip[1] + ANKLE_Y * h + LIMB_THICKNESS * h
        ])

    @property
    def elevation(self) -> float:
        """Angle of the pointing arm above the horizontal (radians)."""
        if self.ray is None:
            return -math.inf
        angle = self.ray[1]
        return math.atan2(-math.sin(angle), abs(math.cos(angle)))


def _boxes_overlap(a: np.ndarray, b: np.ndarray, margin: float) -> bool:
    return not (a[2] + margin < b[0] or b[2] + margin < a[0]
                or a[3] + margin < b[1] or b[3] + margin < a[1])


def _circle_box(c: np.ndarray, r: float) -> np.ndarray:
    return np.array([c[0] - r, c[1] - r, c[0] + r, c[1] + r])


def _angle_diff(a: float, b: float) -> float:
    d = (a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def _direction(src: np.ndarray, dst: np.ndarray) -> float:
    """Angle (radians, image coordinates) of the vector src -> dst."""
    d = np.asarray(dst, dtype=np.float64) - np.asarray(src, np.float64)
    return math.atan2(float(d[1]), float(d[0]))


def _make_person(rng: np.random.Generator, hip: np.ndarray,
                 h: float) -> _Person:
    """Build a standing COCO-17 skeleton with the arms down."""
    kpts = np.zeros((NUM_KEYPOINTS, 2), dtype=np.float64)
    x, y = hip
    # Front-facing figure: the person's left side is on the image right.
    kpts[L_HIP] = (x + HIP_HALF_WIDTH * h, y)
    kpts[R_HIP] = (x - HIP_HALF_WIDTH * h, y)
    spread = rng.uniform(0.02, 0.09) * h
    kpts[L_KNEE] = (x + HIP_HALF_WIDTH * h + spread / 2, y + KNEE_Y * h)
    kpts[R_KNEE] = (x - HIP_HALF_WIDTH * h - spread / 2, y + KNEE_Y * h)
    kpts[L_ANK] = (x + HIP_HALF_WIDTH * h + spread, y + ANKLE_Y * h)
    kpts[R_ANK] = (x - HIP_HALF_WIDTH * h - spread, y + ANKLE_Y * h)
    kpts[L_SHO] = (x + SHOULDER_HALF_WIDTH * h, y + SHOULDER_Y * h)
    kpts[R_SHO] = (x - SHOULDER_HALF_WIDTH * h, y + SHOULDER_Y * h)
    for sho, elb, wri, side in ((L_SHO, L_ELB, L_WRI, 1), (R_SHO, R_ELB, R_WRI,
                                                           -1)):
        # arms hang down, slightly away from the body, bent at the elbow
        # (only a pointing arm is straight)
        ang = math.pi / 2 - side * rng.uniform(0.1, 0.35)
        kpts[elb] = kpts[sho] + UPPER_ARM * h * _unit(ang)
        # the forearm turns towards the body
        ang += side * rng.uniform(*HANGING_ELBOW_BEND)
        kpts[wri] = kpts[elb] + FOREARM * h * _unit(ang)
    kpts[NOSE] = (x, y + HEAD_CENTRE_Y * h)
    return _Person(kpts, h, colour=(0, 0, 0), skin=(0, 0, 0), facing=0)


def _point_arm(person: _Person, angle: float) -> None:
    """Raise the arm on the side of ``angle`` straight towards it and turn
    the head that way."""
    h = person.height
    kpts = person.keypoints
    towards_right = math.cos(angle) >= 0
    # front-facing: the person's left arm is on the image right
    sho, elb, wri = (L_SHO, L_ELB, L_WRI) if towards_right else \
        (R_SHO, R_ELB, R_WRI)
    d = _unit(angle)
    kpts[elb] = kpts[sho] + d * UPPER_ARM * h
    kpts[wri] = kpts[elb] + d * FOREARM * h
    person.facing = 1 if towards_right else -1
    person.ray = (kpts[sho].copy(), angle)


def _set_face(person: _Person) -> None:
    """Place nose, eyes and ears according to the facing direction."""
    h = person.height
    kpts = person.keypoints
    hip = (kpts[L_HIP] + kpts[R_HIP]) / 2
    cx, cy = hip[0], hip[1] + HEAD_CENTRE_Y * h
    f = person.facing
    kpts[NOSE] = (cx + f * 0.05 * h, cy + 0.01 * h)
    kpts[L_EYE] = (cx + 0.03 * h + f * 0.03 * h, cy - 0.02 * h)
    kpts[R_EYE] = (cx - 0.03 * h + f * 0.03 * h, cy - 0.02 * h)
    kpts[L_EAR] = (cx + 0.07 * h - f * 0.02 * h, cy)
    kpts[R_EAR] = (cx - 0.07 * h - f * 0.02 * h, cy)


def _face_visibility(person: _Person) -> np.ndarray:
    """COCO visibility flags from the head pose: the ear (and eye) turned
    away from the camera are hidden by the head (flag 0 for the ear)."""
    vis = np.full(NUM_KEYPOINTS, 2, dtype=np.int64)
    if person.facing > 0:  # looking to the image right: right ear hidden
        vis[R_EAR] = 0
    elif person.facing < 0:
        vis[L_EAR] = 0
    return vis


# ---------------------------------------------------------------------------
# Integer rasterisation. Points are int64 multiples of 1 / GRID pixel; pixel
# (row i, column j) is covered when its centre (j, i) lies in the shape.
def _grid(shape: Tuple[int, int], box: np.ndarray):
    """Pixel-centre coordinates (GRID units) of the pixels inside an xyxy
    box (GRID units), clipped to the image; ``None`` if the box misses."""
    height, width = shape[:2]
    x0 = max(0, -(-int(box[0]) // GRID))
    y0 = max(0, -(-int(box[1]) // GRID))
    x1 = min(width, int(box[2]) // GRID + 1)
    y1 = min(height, int(box[3]) // GRID + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    xs = np.arange(x0, x1, dtype=np.int64)[None, :] * GRID
    ys = np.arange(y0, y1, dtype=np.int64)[:, None] * GRID
    return (slice(y0, y1), slice(x0, x1)), xs, ys


def _fill_capsule(layer: np.ndarray, a: np.ndarray, b: np.ndarray, radius: int,
                  value: int) -> None:
    """Set the pixels within ``radius`` of the segment a-b (GRID units)."""
    lo = np.minimum(a, b) - radius
    hi = np.maximum(a, b) + radius
    grid = _grid(layer.shape, np.concatenate([lo, hi]))
    if grid is None:
        return
    win, xs, ys = grid
    dx, dy = int(b[0] - a[0]), int(b[1] - a[1])
    px, py = xs - int(a[0]), ys - int(a[1])
    length2 = dx * dx + dy * dy
    along = px * dx + py * dy
    dist_a = px * px + py * py
    qx, qy = xs - int(b[0]), ys - int(b[1])
    dist_b = qx * qx + qy * qy
    cross = px * dy - py * dx
    r2 = radius * radius
    inside = np.where(
        along <= 0, dist_a <= r2,
        np.where(along >= length2, dist_b <= r2, cross * cross
                 <= r2 * length2))
    layer[win][inside] = value


def _fill_disc(layer: np.ndarray, centre: np.ndarray, radius: int,
               value) -> None:
    """Set the pixels within ``radius`` of ``centre`` (GRID units)."""
    grid = _grid(layer.shape,
                 np.concatenate([centre - radius, centre + radius]))
    if grid is None:
        return
    win, xs, ys = grid
    dx, dy = xs - int(centre[0]), ys - int(centre[1])
    layer[win][dx * dx + dy * dy <= radius * radius] = value


def _fill_convex(layer: np.ndarray, pts: np.ndarray, value: int) -> None:
    """Set the pixels inside a convex polygon ((k, 2) GRID units)."""
    grid = _grid(layer.shape, np.concatenate([pts.min(0), pts.max(0)]))
    if grid is None:
        return
    win, xs, ys = grid
    nxt = np.roll(pts, -1, axis=0)
    # twice the signed area: its sign tells the winding
    winding = int(
        np.sign((pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]).sum())) or 1
    inside = np.ones((ys.shape[0], xs.shape[1]), dtype=bool)
    for (x0, y0), (x1, y1) in zip(pts.tolist(), nxt.tolist()):
        side = (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)
        inside &= side * winding >= 0
    layer[win][inside] = value


def _draw_person(canvas: np.ndarray, label: np.ndarray, person: _Person,
                 inst: int) -> int:
    """Draw a person on ``canvas`` (H, W, 3 RGB) and ``label`` (H, W);
    return the number of pixels drawn."""
    h = person.height
    thick = max(MIN_THICKNESS, int(round(LIMB_THICKNESS * h)))
    radius = thick * GRID // 2
    layer = np.zeros(label.shape, dtype=np.uint8)
    k = _snap(person.keypoints)
    _fill_convex(layer, k[[L_SHO, R_SHO, R_HIP, L_HIP]], 1)
    for a, b in BODY_LINES:
        _fill_capsule(layer, k[a], k[b], radius, 1)
    hip = (person.keypoints[L_HIP] + person.keypoints[R_HIP]) / 2
    head = _snap((hip[0], hip[1] + HEAD_CENTRE_Y * h))
    _fill_capsule(layer, (k[L_SHO] + k[R_SHO]) // 2, head, radius, 1)
    _fill_disc(layer, head, max(2, int(round(HEAD_RADIUS * h))) * GRID, 2)
    canvas[layer == 1] = person.colour
    canvas[layer == 2] = person.skin
    # the face points: small dark marks so the head pose is visible
    hidden_eye = {1: R_EYE, -1: L_EYE}.get(person.facing)
    for idx in (NOSE, L_EYE, R_EYE):
        if idx != hidden_eye:
            _fill_disc(canvas, k[idx],
                       max(1, thick // 3) * GRID, FACE_MARK_COLOUR)
    label[layer > 0] = inst
    return int(np.count_nonzero(layer))


def _draw_object(canvas: np.ndarray, label: np.ndarray, shape: str,
                 centre: np.ndarray, radius: float,
                 colour: Tuple[int, int, int], inst: int) -> int:
    """Draw one look-alike object; return the number of pixels drawn."""
    layer = np.zeros(label.shape, dtype=np.uint8)
    c = np.asarray(centre, dtype=np.float64)
    r = float(radius)
    if shape == 'disc':
        _fill_disc(layer, _snap(c), int(_snap(r)), 1)
    else:
        if shape == 'square':
            degrees, scale = (45, 135, 225, 315), 1.2
        elif shape == 'triangle':
            degrees, scale = (-90, 30, 150), 1.25
        else:  # diamond
            degrees, scale = (0, 90, 180, 270), 1.2
        pts = [c + r * scale * _unit(math.radians(d)) for d in degrees]
        _fill_convex(layer, _snap(pts), 1)
    canvas[layer > 0] = colour
    label[layer > 0] = inst
    return int(np.count_nonzero(layer))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted textured background, (size, size, 3) uint8 RGB, computed
    with integers only."""
    c0 = rng.integers(*BACKGROUND_LEVELS, size=3, endpoint=True)
    c1 = rng.integers(*BACKGROUND_LEVELS, size=3, endpoint=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.int64)
    # gradient along a random integer direction
    gx, gy = (int(v) for v in rng.integers(-8, 9, size=2))
    gx = gx or 1
    t = gx * xx + gy * yy
    t -= t.min()
    span = max(int(t.max()), 1)
    img = (c0 * (span - t)[..., None] + c1 * t[..., None]) // span
    # triangle-wave stripes along another direction
    sx, sy = (int(v) for v in rng.integers(-4, 5, size=2))
    sx = sx or 1
    period = int(rng.integers(*STRIPE_PERIOD)) * max(abs(sx), abs(sy))
    amp = int(rng.integers(*STRIPE_AMPLITUDE))
    phase = (sx * xx + sy * yy) % period
    img += (amp * (4 * np.abs(2 * phase - period) - 2 * period) //
            (2 * period))[..., None]
    img += rng.integers(
        -NOISE_AMPLITUDE, NOISE_AMPLITUDE, size=img.shape, endpoint=True)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sample_heights(rng: np.random.Generator, size: int, n_people: int,
                    rule: str) -> List[float]:
    if rule == 'pose_order':
        return [
            rng.uniform(*POSE_ORDER_HEIGHT) * size for _ in range(n_people)
        ]
    heights = [rng.uniform(*FIRST_HEIGHT) * size]
    for _ in range(n_people - 1):
        heights.append(heights[-1] * rng.uniform(*NEXT_HEIGHT_RATIO))
    return heights


def _sample_scene(rng: np.random.Generator,
                  size: int,
                  n_people: Optional[int] = None,
                  rule: str = 'pointing') -> dict:
    """Sample a scene layout (people, targets, decoys); no drawing."""
    if n_people is None:
        n_people = _sample_num_people(rng, rule)
    heights = _sample_heights(rng, size, n_people, rule)
    margin = 0.02 * size
    people: List[_Person] = []
    for h in heights:
        for _ in range(MAX_TRIES):
            lo_x = 0.2 * h + margin
            lo_y = (-HEAD_CENTRE_Y + HEAD_RADIUS) * h + margin
            hi_y = size - (ANKLE_Y + LIMB_THICKNESS) * h - margin
            if hi_y <= lo_y or size - lo_x <= lo_x:
                break
            hip = np.array(
                [rng.uniform(lo_x, size - lo_x),
                 rng.uniform(lo_y, hi_y)])
            person = _make_person(rng, hip, h)
            if all(not _boxes_overlap(person.body_box, p.body_box, margin)
                   for p in people):
                people.append(person)
                break
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    obj_colour = OBJECT_COLOURS[int(rng.integers(len(OBJECT_COLOURS)))]
    base_r = rng.uniform(*OBJECT_RADIUS) * size
    objects: List[Tuple[np.ndarray, float]] = []

    def free(c: np.ndarray, r: float) -> bool:
        box = _circle_box(c, r * 1.3)
        if box[0] < 0 or box[1] < 0 or box[2] >= size or box[3] >= size:
            return False
        if any(_boxes_overlap(box, p.body_box, margin) for p in people):
            return False
        return all(
            math.hypot(*(c - oc)) > (r + orr) * 1.3 + margin
            for oc, orr in objects)

    pointing: List[Tuple[np.ndarray, float]] = []  # (shoulder, angle)
    for person in people:
        r = base_r * rng.uniform(1 - OBJECT_JITTER, 1 + OBJECT_JITTER)
        arm = (UPPER_ARM + FOREARM) * person.height
        for _ in range(MAX_TRIES):
            side = 1 if rng.random() < 0.5 else -1
            # image axes: negative = above the horizontal
            elev = rng.uniform(-MAX_ELEVATION_UP, MAX_ELEVATION_DOWN)
            if rule == 'pose_order' and any(
                    abs(-elev - p.elevation) < MIN_ELEVATION_GAP
                    for p in people if p.ray is not None):
                continue  # elevations must tell the people's order
            angle = math.atan2(math.sin(elev), side * math.cos(elev))
            sho = person.keypoints[L_SHO if side > 0 else R_SHO]
            dist = arm + r * 1.3 + rng.uniform(0.04, 0.3) * size
            c = sho + dist * _unit(angle)
            # neither on an earlier pointing ray nor pointing through an
            # earlier target
            if free(c, r) and all(
                    _angle_diff(ang, _direction(s, c)) > MIN_DECOY_ANGLE
                    for s, ang in pointing) and all(
                        _angle_diff(angle, _direction(sho, oc)) >
                        MIN_DECOY_ANGLE for oc, _ in objects):
                _point_arm(person, angle)
                person.target = len(objects)
                objects.append((c, r))
                pointing.append((sho.copy(), angle))
                break
    n_decoys = max(1, MAX_OBJECTS - len(objects))
    n_decoys = int(rng.integers(1, n_decoys + 1))
    decoys: List[Tuple[np.ndarray, float]] = []
    for _ in range(n_decoys):
        r = base_r * rng.uniform(1 - OBJECT_JITTER, 1 + OBJECT_JITTER)
        for _ in range(MAX_TRIES):
            c = rng.uniform(r * 1.3, size - r * 1.3, size=2)
            if not free(c, r):
                continue
            if any(
                    _angle_diff(ang, _direction(s, c)) < MIN_DECOY_ANGLE
                    for s, ang in pointing):
                continue
            objects.append((c, r))
            decoys.append((c, r))
            break
    for person in people:
        _set_face(person)
    return dict(
        people=people,
        objects=objects,
        num_targets=len(objects) - len(decoys),
        shape=shape,
        obj_colour=obj_colour)


def _sample_num_people(rng: np.random.Generator, rule: str) -> int:
    probs = POSE_ORDER_PEOPLE_PROBS if rule == 'pose_order' else PEOPLE_PROBS
    return int(rng.choice(len(probs), p=probs)) + 1


def _rank_order(scene: dict, rule: str) -> List[Tuple[int, Optional[int]]]:
    """The ranked instances as (instance id, index of the person or None).

    Instance ids: 1..P people in sampling order, then the objects.
    """
    people: List[_Person] = scene['people']
    num_people = len(people)
    person_ids = list(range(num_people))
    if rule == 'pose_order':
        # highest pointing arm first; people without target (rare) after
        person_ids.sort(key=lambda pi: -people[pi].elevation)
    order: List[Tuple[int, Optional[int]]] = []
    for pi in person_ids:
        order.append((pi + 1, pi))
        if people[pi].target is not None:
            order.append((num_people + 1 + people[pi].target, None))
    if rule == 'pose_order':
        decoys = list(range(scene['num_targets'], len(scene['objects'])))
        leader = next((people[pi] for pi in person_ids if people[pi].ray),
                      None)
        if leader is not None:
            sho, angle = leader.ray
            decoys.sort(key=lambda oi: _angle_diff(
                angle, _direction(sho, scene['objects'][oi][0])))
        order += [(num_people + 1 + oi, None) for oi in decoys]
    return order


def _snap_scene(scene: dict) -> None:
    """Put keypoints and object geometry on the 1 / GRID pixel grid, so
    what is stored is exactly what is drawn."""
    for person in scene['people']:
        person.keypoints = _snap(person.keypoints) / GRID
    scene['objects'] = [(_snap(c) / GRID, float(_snap(r)) / GRID)
                        for c, r in scene['objects']]


def render_scene(rng: np.random.Generator,
                 size: int,
                 rule: str = 'pointing') -> Tuple[np.ndarray, List[dict]]:
    """Render one synthetic scene.

    Args:
        rng (np.random.Generator): Random generator (consumed).
        size (int): Image side in pixels.
        rule (str): Ranking rule, one of :data:`RULES`.

    Returns:
        tuple[np.ndarray, list[dict]]: The (size, size, 3) uint8 RGB
        image and its instances sorted by rank, each a dict with
        ``mask`` ((size, size) uint8), ``rank`` (1 = most salient),
        ``class_id``, ``keypoints`` ((17, 3) float, zeros for objects)
        and ``target_rank`` (rank of the object a person points at, or
        ``None``).
    """
    if rule not in RULES:
        raise ValueError(f'unknown synthetic rule {rule!r}; use {RULES}')
    n_people = _sample_num_people(rng, rule)
    background = _background(rng, size)
    for _ in range(MAX_TRIES):
        scene = _sample_scene(rng, size, n_people, rule)
        _snap_scene(scene)
        people: List[_Person] = scene['people']
        img = background.copy()
        label = np.zeros((size, size), dtype=np.int32)
        skins = rng.permutation(len(SKIN_COLOURS))
        colours = rng.permutation(len(PERSON_COLOURS))
        # instance ids: 1..P people, then objects
        drawn_area = {}
        for oi, (c, r) in enumerate(scene['objects']):
            inst = len(people) + 1 + oi
            drawn_area[inst] = _draw_object(img, label, scene['shape'], c, r,
                                            scene['obj_colour'], inst)
        # earlier (in the 'pointing' rule: larger) people are closer: draw
        # them last (in front)
        for pi in reversed(range(len(people))):
            person = people[pi]
            person.colour = PERSON_COLOURS[colours[pi % len(colours)]]
            person.skin = SKIN_COLOURS[skins[pi % len(skins)]]
            drawn_area[pi + 1] = _draw_person(img, label, person, pi + 1)
        counts = np.bincount(label.ravel(), minlength=len(drawn_area) + 1)
        visible_ok = all(counts[inst] >= MIN_VISIBLE_FRACTION *
                         max(area, 1) and counts[inst] > 0
                         for inst, area in drawn_area.items())
        # prefer complete scenes: every person points at a target and at
        # least one decoy exists
        complete = len(people) == n_people and all(
            p.target is not None
            for p in people) and len(scene['objects']) > scene['num_targets']
        if visible_ok and people and complete:
            break
    order = _rank_order(scene, rule)
    rank_of = {inst: rank for rank, (inst, _) in enumerate(order, start=1)}
    instances = []
    for rank, (inst, pi) in enumerate(order, start=1):
        mask = (label == inst).astype(np.uint8)
        target_rank = None
        if pi is not None:
            person = people[pi]
            vis = _face_visibility(person)
            kp = person.keypoints
            # nearest pixel, halves rounded up (exact: kp is on the grid)
            xi = np.clip(np.floor(kp[:, 0] + 0.5).astype(int), 0, size - 1)
            yi = np.clip(np.floor(kp[:, 1] + 0.5).astype(int), 0, size - 1)
            occluded = (label[yi, xi] != inst) & (label[yi, xi] > 0)
            vis = np.where((vis > 0) & occluded, 1, vis)
            kpts = np.concatenate([kp, vis[:, None].astype(np.float64)], 1)
            class_id = PERSON_CLASS_ID
            if person.target is not None:
                target_rank = rank_of[len(people) + 1 + person.target]
        else:
            kpts = np.zeros((NUM_KEYPOINTS, 3))
            class_id = SHAPE_CLASS_IDS[scene['shape']]
        instances.append(
            dict(
                mask=mask,
                rank=rank,
                class_id=class_id,
                keypoints=kpts,
                target_rank=target_rank))
    return img, instances


def _encode(mask: np.ndarray) -> Tuple[dict, List[float], int]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    area = int(mask_utils.area(rle))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle, bbox, area


def _write_json(path: str, data: dict) -> None:
    """Write JSON byte-identically everywhere (fixed key order, compact
    separators, ASCII, a final newline)."""
    with open(path, 'w', encoding='ascii', newline='\n') as f:
        json.dump(data, f, separators=(',', ':'), ensure_ascii=True)
        f.write('\n')


def _write_split(out_dir: str, split: str, num: int, size: int, seed: int,
                 split_index: int, rule: str) -> dict:
    img_dir = osp.join(out_dir, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(num):
        rng = np.random.default_rng([seed, split_index, i])
        img, instances = render_scene(rng, size, rule)
        file_name = f'{i + 1:06d}{IMAGE_EXT}'
        path = osp.join(img_dir, file_name)
        if not cv2.imwrite(path, np.ascontiguousarray(img[..., ::-1]),
                           [int(cv2.IMWRITE_JPEG_QUALITY), JPEG_QUALITY]):
            raise OSError(f'could not write {path}')
        image_id = i + 1
        images.append(
            dict(id=image_id, file_name=file_name, height=size, width=size))
        first_id = ann_id
        for inst in instances:
            rle, bbox, area = _encode(inst['mask'])
            kpts = inst['keypoints']
            # multiples of 1 / GRID: exact in binary and in JSON
            flat = [
                float(v) if j % 3 != 2 else int(v)
                for j, v in enumerate(kpts.reshape(-1).tolist())
            ]
            ann = dict(
                id=ann_id,
                image_id=image_id,
                category_id=inst['rank'],
                visiting_order=inst['rank'],
                class_id=inst['class_id'],
                segmentation=rle,
                bbox=bbox,
                area=area,
                keypoints=flat,
                num_keypoints=int((kpts[:, 2] > 0).sum()),
                iscrowd=0)
            if inst['target_rank'] is not None:
                ann['points_at'] = first_id + inst['target_rank'] - 1
            annotations.append(ann)
            ann_id += 1
    ann_file = osp.join(out_dir, f'synthetic_{split}.json')
    _write_json(
        ann_file,
        dict(
            info=dict(
                description='PoseSOR synthetic pose-driven SOR dataset',
                generator_version=GENERATOR_VERSION,
                rule=rule,
                seed=seed,
                size=size,
                split=split),
            images=images,
            annotations=annotations))
    return dict(
        ann_file=ann_file,
        img_dir=img_dir,
        num_images=len(images),
        num_annotations=len(annotations))


def annotation_digest(ann_files: Sequence[str]) -> str:
    """Short SHA-256 fingerprint of annotation files (in the given order).

    Args:
        ann_files (Sequence[str]): Annotation JSON paths.

    Returns:
        str: The first :data:`DIGEST_CHARS` hex digits.
    """
    sha = hashlib.sha256()
    for path in ann_files:
        with open(path, 'rb') as f:
            sha.update(f.read())
    return sha.hexdigest()[:DIGEST_CHARS]


def generate_synthetic_sor(out_dir: str,
                           num_train: int = 500,
                           num_test: int = 100,
                           size: int = 192,
                           seed: int = 0,
                           splits: Sequence[str] = SPLITS,
                           rule: str = 'pointing') -> Dict[str, dict]:
    """Generate a synthetic pose-driven SOR dataset on disk.

    Args:
        out_dir (str): Output root; receives ``synthetic_{split}.json`` and
            ``images/{split}/*.jpg``.
        num_train (int): Number of training images.
        num_test (int): Number of test images.
        size (int): Image side in pixels (square images).
        seed (int): Random seed; the output is identical for a seed.
        splits (Sequence[str]): Splits to write (``'train'``, ``'test'``).
        rule (str): Ranking rule, one of :data:`RULES` (see the module
            docstring).

    Returns:
        dict: split -> ``dict(ann_file, img_dir, num_images,
        num_annotations)``.
    """
    if size < 32:
        raise ValueError(f'size must be >= 32 pixels, got {size}')
    if rule not in RULES:
        raise ValueError(f'unknown synthetic rule {rule!r}; use {RULES}')
    counts = dict(train=num_train, test=num_test)
    out = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f'unknown split {split!r}, use {SPLITS}')
        out[split] = _write_split(out_dir, split, counts[split], size, seed,
                                  SPLITS.index(split), rule)
    return out
