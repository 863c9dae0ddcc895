# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Synthetic pose-driven salient object ranking dataset (embedded default).

The real benchmarks (ASSR, IRSR) cannot be downloaded here, so this module
renders small scenes in exactly their on-disk format::

    out_dir/synthetic_train.json
    out_dir/synthetic_test.json
    out_dir/images/train/000001.jpg ...
    out_dir/images/test/000001.jpg ...

Scene content
-------------
* A textured background (two-colour gradient, faint stripes, noise) in
  muted colours.
* 1-3 stick-figure people drawn from a COCO-17 skeleton: a skin-coloured
  head and thick limbs and torso in one saturated clothing colour per
  person. People stand upright at clearly different sizes (each one is
  65-80 % the height of the previous one). Every person points with one
  straight arm (shoulder, elbow and wrist on one line, from 55 degrees above
  to 35 degrees below the horizontal) and turns the head towards the
  pointing side; the other arm hangs down, bent towards the body at the
  elbow. Scenes are resampled until every person points at its own target
  (rarely, after many failed tries, a person does not point).
* 2-4 objects that all look alike: one shape (disc, square, triangle or
  diamond) and one colour per scene, sizes within +-10 %. Each person points
  at a different object (its *target*); at least one further object is a
  *decoy* that nobody points at. No decoy lies within 25 degrees of a
  pointing direction.

Ranking rule (what a model must learn)
--------------------------------------
1. People are ranked by size, largest first.
2. Right after each person comes the object that person points at.

So a scene with two people gives: rank 1 = largest person, rank 2 = the
object it points at, rank 3 = the other person, rank 4 = the object that
one points at. Decoys are not salient and are not annotated (they belong
to the background, like unannotated objects in ASSR/IRSR). Target and
decoys look the same (shape, colour, size), and proximity does not give
the target away (it is the object nearest to its person's shoulders in
only about a fifth of the cases): the pointing arm and the head turn (the
pose) tell which object is salient and which person it belongs to.

Annotations are COCO-style like PoseSOR's: visible-pixel instance masks as
compressed RLE (occlusions are resolved when rendering), ``bbox`` (xywh,
from the mask), ``area``, ``category_id`` and ``visiting_order`` (both the
rank), ``class_id`` (1 = person; objects use a fixed COCO-like id per
shape), ``keypoints`` (17 x [x, y, v]; v = 2 visible, 1 occluded by
another instance; zeros for objects), ``num_keypoints`` and ``iscrowd``.

Generation is deterministic for a seed (each image draws from its own
``numpy`` generator seeded with ``(seed, split, index)``) and fast (about
40 images of 256 x 256 per second on one core).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

SPLITS = ('train', 'test')
NUM_KEYPOINTS = 17
PERSON_CLASS_ID = 1
# COCO-like class ids for the object shapes (only "1 = person" matters).
SHAPE_CLASS_IDS = dict(disc=37, square=73, triangle=44, diamond=47)
SHAPES = tuple(SHAPE_CLASS_IDS)

# Clothing colours of people (RGB), saturated and distinct.
PERSON_COLOURS = ((220, 40, 40), (40, 90, 230), (30, 170, 60), (150, 40, 200),
                  (240, 140, 20))
SKIN_COLOURS = ((240, 200, 160), (200, 150, 110), (140, 95, 65))
# Object colours (RGB), different from the clothing colours.
OBJECT_COLOURS = ((250, 220, 30), (20, 200, 210), (250, 90, 180), (255, 255,
                                                                   255))

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

# Scene sampling.
PEOPLE_PROBS = (0.4, 0.4, 0.2)  # 1, 2 or 3 people
MAX_OBJECTS = 4
FIRST_HEIGHT = (0.48, 0.62)  # fraction of the image size
NEXT_HEIGHT_RATIO = (0.65, 0.8)
OBJECT_RADIUS = (0.06, 0.085)  # fraction of the image size
OBJECT_JITTER = 0.1
MIN_DECOY_ANGLE = np.deg2rad(25.0)
# pointing angle above / below the horizontal
MAX_ELEVATION_UP = np.deg2rad(55.0)
MAX_ELEVATION_DOWN = np.deg2rad(35.0)
HANGING_ELBOW_BEND = (np.deg2rad(30.0), np.deg2rad(50.0))
MIN_VISIBLE_FRACTION = 0.6
MAX_TRIES = 60
JPEG_QUALITY = 95

# COCO-17 keypoint indices.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
BODY_LINES = ((L_SHO, R_SHO), (L_HIP, R_HIP), (L_SHO, L_HIP), (R_SHO, R_HIP),
              (L_SHO, L_ELB), (L_ELB, L_WRI), (R_SHO, R_ELB), (R_ELB, R_WRI),
              (L_HIP, L_KNEE), (L_KNEE, L_ANK), (R_HIP, R_KNEE), (R_KNEE,
                                                                  R_ANK))


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


def _boxes_overlap(a: np.ndarray, b: np.ndarray, margin: float) -> bool:
    return not (a[2] + margin < b[0] or b[2] + margin < a[0]
                or a[3] + margin < b[1] or b[3] + margin < a[1])


def _circle_box(c: np.ndarray, r: float) -> np.ndarray:
    return np.array([c[0] - r, c[1] - r, c[0] + r, c[1] + r])


def _angle_diff(a: float, b: float) -> float:
    d = (a - b) % (2 * np.pi)
    return min(d, 2 * np.pi - d)


def _direction(src: np.ndarray, dst: np.ndarray) -> float:
    """Angle (radians, image coordinates) of the vector src -> dst."""
    d = np.asarray(dst, dtype=np.float64) - np.asarray(src, np.float64)
    return float(np.arctan2(d[1], d[0]))


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
        ang = np.pi / 2 - side * rng.uniform(0.1, 0.35)
        kpts[elb] = kpts[sho] + UPPER_ARM * h * np.array(
            [np.cos(ang), np.sin(ang)])
        # the forearm turns towards the body
        ang += side * rng.uniform(*HANGING_ELBOW_BEND)
        kpts[wri] = kpts[elb] + FOREARM * h * np.array(
            [np.cos(ang), np.sin(ang)])
    kpts[NOSE] = (x, y + HEAD_CENTRE_Y * h)
    return _Person(kpts, h, colour=(0, 0, 0), skin=(0, 0, 0), facing=0)


def _point_arm(person: _Person, angle: float) -> None:
    """Raise the arm on the side of ``angle`` straight towards it and turn
    the head that way."""
    h = person.height
    kpts = person.keypoints
    towards_right = np.cos(angle) >= 0
    # front-facing: the person's left arm is on the image right
    sho, elb, wri = (L_SHO, L_ELB, L_WRI) if towards_right else \
        (R_SHO, R_ELB, R_WRI)
    d = np.array([np.cos(angle), np.sin(angle)])
    kpts[elb] = kpts[sho] + d * UPPER_ARM * h
    kpts[wri] = kpts[elb] + d * FOREARM * h
    person.facing = 1 if towards_right else -1


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


def _draw_person(canvas: np.ndarray, label: np.ndarray, person: _Person,
                 inst: int) -> int:
    """Draw a person on ``canvas`` (H, W, 3 RGB) and ``label`` (H, W);
    return the number of pixels drawn."""
    h = person.height
    thick = max(MIN_THICKNESS, int(round(LIMB_THICKNESS * h)))
    layer = np.zeros(label.shape, dtype=np.uint8)
    k = np.round(person.keypoints).astype(np.int32)
    torso = np.stack([k[L_SHO], k[R_SHO], k[R_HIP], k[L_HIP]])
    cv2.fillPoly(layer, [torso], 1)
    for a, b in BODY_LINES:
        cv2.line(layer, tuple(int(v) for v in k[a]),
                 tuple(int(v) for v in k[b]), 1, thick, cv2.LINE_8)
    hip = (person.keypoints[L_HIP] + person.keypoints[R_HIP]) / 2
    neck_top = (int(round(hip[0])), int(round(hip[1] + HEAD_CENTRE_Y * h)))
    cv2.line(layer, tuple(int(v) for v in (k[L_SHO] + k[R_SHO]) // 2),
             neck_top, 1, thick, cv2.LINE_8)
    cv2.circle(layer, neck_top, max(2, int(round(HEAD_RADIUS * h))), 2, -1)
    canvas[layer == 1] = person.colour
    canvas[layer == 2] = person.skin
    # the face points: small dark marks so the head pose is visible
    for idx in (NOSE, L_EYE, R_EYE):
        if person.facing != 0 and idx == (R_EYE
                                          if person.facing > 0 else L_EYE):
            continue
        cv2.circle(canvas, tuple(int(v) for v in k[idx]), max(1, thick // 3),
                   (30, 30, 30), -1)
    label[layer > 0] = inst
    return int((layer > 0).sum())


def _draw_object(canvas: np.ndarray, label: np.ndarray, shape: str,
                 centre: np.ndarray, radius: float,
                 colour: Tuple[int, int, int], inst: int) -> int:
    """Draw one look-alike object; return the number of pixels drawn."""
    layer = np.zeros(label.shape, dtype=np.uint8)
    c = np.asarray(centre, dtype=np.float64)
    r = float(radius)
    if shape == 'disc':
        cv2.circle(layer, (int(round(c[0])), int(round(c[1]))), int(round(r)),
                   1, -1)
    else:
        if shape == 'square':
            angles = np.deg2rad([45, 135, 225, 315])
            rr = r * 1.2
        elif shape == 'triangle':
            angles = np.deg2rad([-90, 30, 150])
            rr = r * 1.25
        else:  # diamond
            angles = np.deg2rad([0, 90, 180, 270])
            rr = r * 1.2
        pts = c + rr * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        cv2.fillPoly(layer, [np.round(pts).astype(np.int32)], 1)
    canvas[layer > 0] = colour
    label[layer > 0] = inst
    return int((layer > 0).sum())


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted textured background, (size, size, 3) uint8 RGB."""
    c0 = rng.uniform(70, 170, size=3)
    c1 = rng.uniform(70, 170, size=3)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = (np.cos(ang) * xx + np.sin(ang) * yy)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    freq = rng.uniform(4, 12)
    ang2 = rng.uniform(0, 2 * np.pi)
    stripes = np.sin(2 * np.pi * freq *
                     (np.cos(ang2) * xx + np.sin(ang2) * yy))
    img += rng.uniform(6, 14) * stripes[..., None]
    img += rng.normal(0, 6, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sample_scene(rng: np.random.Generator,
                  size: int,
                  n_people: Optional[int] = None) -> dict:
    """Sample a scene layout (people, targets, decoys); no drawing."""
    if n_people is None:
        n_people = int(rng.choice(len(PEOPLE_PROBS), p=PEOPLE_PROBS)) + 1
    heights = [rng.uniform(*FIRST_HEIGHT) * size]
    for _ in range(n_people - 1):
        heights.append(heights[-1] * rng.uniform(*NEXT_HEIGHT_RATIO))
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
            np.linalg.norm(c - oc) > (r + orr) * 1.3 + margin
            for oc, orr in objects)

    pointing: List[Tuple[np.ndarray, float]] = []  # (shoulder, angle)
    for person in people:
        r = base_r * rng.uniform(1 - OBJECT_JITTER, 1 + OBJECT_JITTER)
        arm = (UPPER_ARM + FOREARM) * person.height
        for _ in range(MAX_TRIES):
            side = 1 if rng.random() < 0.5 else -1
            elev = rng.uniform(-MAX_ELEVATION_UP, MAX_ELEVATION_DOWN)
            angle = float(np.arctan2(np.sin(elev), side * np.cos(elev)))
            sho = person.keypoints[L_SHO if side > 0 else R_SHO]
            dist = arm + r * 1.3 + rng.uniform(0.04, 0.3) * size
            c = sho + dist * np.array([np.cos(angle), np.sin(angle)])
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


def render_scene(rng: np.random.Generator,
                 size: int) -> Tuple[np.ndarray, List[dict]]:
    """Render one synthetic scene.

    Args:
        rng (np.random.Generator): Random generator (consumed).
        size (int): Image side in pixels.

    Returns:
        tuple[np.ndarray, list[dict]]: The (size, size, 3) uint8 RGB
        image and its instances sorted by rank, each a dict with
        ``mask`` ((size, size) uint8), ``rank`` (1 = most salient),
        ``class_id`` and ``keypoints`` ((17, 3) float, zeros for
        objects).
    """
    n_people = int(rng.choice(len(PEOPLE_PROBS), p=PEOPLE_PROBS)) + 1
    for _ in range(MAX_TRIES):
        scene = _sample_scene(rng, size, n_people)
        people: List[_Person] = scene['people']
        img = _background(rng, size)
        label = np.zeros((size, size), dtype=np.int32)
        skins = rng.permutation(len(SKIN_COLOURS))
        colours = rng.permutation(len(PERSON_COLOURS))
        # instance ids: 1..P people (largest first), then objects
        drawn_area = {}
        for oi, (c, r) in enumerate(scene['objects']):
            inst = len(people) + 1 + oi
            drawn_area[inst] = _draw_object(img, label, scene['shape'], c, r,
                                            scene['obj_colour'], inst)
        # larger people are closer: draw them last (in front)
        for pi in reversed(range(len(people))):
            person = people[pi]
            person.colour = PERSON_COLOURS[colours[pi % len(colours)]]
            person.skin = SKIN_COLOURS[skins[pi % len(skins)]]
            drawn_area[pi + 1] = _draw_person(img, label, person, pi + 1)
        visible_ok = all(
            (label == inst).sum() >= MIN_VISIBLE_FRACTION * max(area, 1)
            for inst, area in drawn_area.items()) and all(
                (label == inst).any() for inst in drawn_area)
        # prefer complete scenes: every person points at a target and at
        # least one decoy exists
        complete = len(people) == n_people and all(
            p.target is not None
            for p in people) and len(scene['objects']) > scene['num_targets']
        if visible_ok and people and complete:
            break
    order: List[Tuple[int, Optional[_Person]]] = []
    for pi, person in enumerate(people):
        order.append((pi + 1, person))
        if person.target is not None:
            order.append((len(people) + 1 + person.target, None))
    instances = []
    for rank, (inst, person) in enumerate(order, start=1):
        mask = (label == inst).astype(np.uint8)
        if person is not None:
            vis = _face_visibility(person)
            kp = person.keypoints
            xi = np.clip(np.round(kp[:, 0]).astype(int), 0, size - 1)
            yi = np.clip(np.round(kp[:, 1]).astype(int), 0, size - 1)
            occluded = (label[yi, xi] != inst) & (label[yi, xi] > 0)
            vis = np.where((vis > 0) & occluded, 1, vis)
            kpts = np.concatenate([kp, vis[:, None].astype(np.float64)], 1)
            class_id = PERSON_CLASS_ID
        else:
            kpts = np.zeros((NUM_KEYPOINTS, 3))
            class_id = SHAPE_CLASS_IDS[scene['shape']]
        instances.append(
            dict(mask=mask, rank=rank, class_id=class_id, keypoints=kpts))
    return img, instances


def _encode(mask: np.ndarray) -> Tuple[dict, List[float], int]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    area = int(mask_utils.area(rle))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle, bbox, area


def _write_split(out_dir: str, split: str, num: int, size: int, seed: int,
                 split_index: int) -> dict:
    img_dir = osp.join(out_dir, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(num):
        rng = np.random.default_rng([seed, split_index, i])
        img, instances = render_scene(rng, size)
        file_name = f'{i + 1:06d}.jpg'
        ok = cv2.imwrite(
            osp.join(img_dir, file_name), img[..., ::-1],
            [int(cv2.IMWRITE_JPEG_QUALITY), JPEG_QUALITY])
        if not ok:
            raise OSError(f'could not write {osp.join(img_dir, file_name)}')
        image_id = i + 1
        images.append(
            dict(id=image_id, file_name=file_name, height=size, width=size))
        for inst in instances:
            rle, bbox, area = _encode(inst['mask'])
            kpts = inst['keypoints']
            flat = [
                float(round(v, 2)) if j % 3 != 2 else int(v)
                for j, v in enumerate(kpts.reshape(-1).tolist())
            ]
            annotations.append(
                dict(
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
                    iscrowd=0))
            ann_id += 1
    ann_file = osp.join(out_dir, f'synthetic_{split}.json')
    with open(ann_file, 'w', encoding='utf-8') as f:
        json.dump(
            dict(
                info=dict(
                    description='PoseSOR synthetic pose-driven SOR dataset',
                    seed=seed,
                    size=size,
                    split=split),
                images=images,
                annotations=annotations), f)
    return dict(
        ann_file=ann_file,
        img_dir=img_dir,
        num_images=len(images),
        num_annotations=len(annotations))


def generate_synthetic_sor(out_dir: str,
                           num_train: int = 500,
                           num_test: int = 100,
                           size: int = 192,
                           seed: int = 0,
                           splits: Sequence[str] = SPLITS) -> Dict[str, dict]:
    """Generate the synthetic pose-driven SOR dataset on disk.

    Args:
        out_dir (str): Output root; receives ``synthetic_{split}.json`` and
            ``images/{split}/*.jpg``.
        num_train (int): Number of training images.
        num_test (int): Number of test images.
        size (int): Image side in pixels (square images).
        seed (int): Random seed; the output is identical for a seed.
        splits (Sequence[str]): Splits to write (``'train'``, ``'test'``).

    Returns:
        dict: split -> ``dict(ann_file, img_dir, num_images,
        num_annotations)``.
    """
    if size < 32:
        raise ValueError(f'size must be >= 32 pixels, got {size}')
    counts = dict(train=num_train, test=num_test)
    out = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f'unknown split {split!r}, use {SPLITS}')
        out[split] = _write_split(out_dir, split, counts[split], size, seed,
                                  SPLITS.index(split))
    return out
