# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Plain numpy/cv2 drawing of salient object rankings.

:func:`draw_sor_overlay` colours instance masks by rank (rank 1 warm, later
ranks cool, as in the paper's figures), writes the rank numbers and draws
COCO-17 skeletons. It works on numpy arrays only, so tools and the demo
can reuse it without a visualizer.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

# Rank colours (RGB), warm to cool: red, orange, yellow, green, cyan, blue,
# violet. Ranks beyond the list reuse the last colour.
RANK_COLOURS: Tuple[Tuple[int, int, int],
                    ...] = ((230, 25, 25), (250, 130, 20), (240, 210,
                                                            20), (60, 190, 75),
                            (40, 190, 230), (30, 80, 230), (130, 60, 210))
# Colour of unranked objects (rank <= 0).
UNRANKED_COLOUR: Tuple[int, int, int] = (150, 150, 150)
# COCO-17 skeleton (0-based joint indices).
COCO_SKELETON: Tuple[Tuple[int, int],
                     ...] = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12),
                             (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
                             (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
                             (3, 5), (4, 6))
NUM_KEYPOINTS = 17


def rank_colour(rank: int) -> Tuple[int, int, int]:
    """RGB colour of a rank (1 = most salient, warm; later ranks cooler).

    Args:
        rank (int): Rank, 1-based; ``<= 0`` means unranked (grey).

    Returns:
        tuple[int, int, int]: RGB colour.
    """
    rank = int(rank)
    if rank <= 0:
        return UNRANKED_COLOUR
    return RANK_COLOURS[min(rank, len(RANK_COLOURS)) - 1]


def _resize_masks(masks: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    if masks.shape[1:] == tuple(shape):
        return masks
    out = np.zeros((masks.shape[0], ) + tuple(shape), dtype=bool)
    for i, m in enumerate(masks):
        out[i] = cv2.resize(
            m.astype(np.uint8), (shape[1], shape[0]),
            interpolation=cv2.INTER_NEAREST) > 0
    return out


def _put_label(img: np.ndarray, text: str, org: Tuple[int, int],
               colour: Tuple[int, int,
                             int], scale: float, thickness: int) -> None:
    """Rank number in white on a disc of the rank colour, centred on
    ``org``."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    radius = int(max(tw, th) * 0.75) + 2
    cx = int(np.clip(org[0], radius, max(img.shape[1] - radius, radius)))
    cy = int(np.clip(org[1], radius, max(img.shape[0] - radius, radius)))
    cv2.circle(img, (cx, cy), radius, colour, -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), radius, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(img, text, (cx - tw // 2, cy + th // 2), font, scale,
                (255, 255, 255), thickness, cv2.LINE_AA)


def draw_sor_overlay(image: np.ndarray,
                     masks: np.ndarray,
                     ranks: Optional[Sequence[int]] = None,
                     keypoints: Optional[np.ndarray] = None,
                     keypoints_visible: Optional[np.ndarray] = None,
                     bboxes: Optional[np.ndarray] = None,
                     alpha: float = 0.55,
                     keypoint_thr: float = 0.5,
                     draw_numbers: bool = True,
                     draw_skeleton: bool = True) -> np.ndarray:
    """Draw masks coloured by rank, rank numbers and skeletons.

    Instances are painted from the least to the most salient so that the
    most salient one stays on top where masks overlap. Inputs whose masks
    are not at the image size are resized (nearest) to it, and keypoints and
    boxes are scaled by the same factors.

    Args:
        image (np.ndarray): (H, W, 3) uint8 image (drawn in its own channel
            order; colours are RGB).
        masks (np.ndarray): (n, h, w) binary or probability masks
            (``> 0.5`` is foreground).
        ranks (Sequence[int], optional): (n,) ranks, 1 = most salient.
            Defaults to ``1..n`` (masks given most salient first).
        keypoints (np.ndarray, optional): (n, 17, 2) pixel coordinates in
            the masks' frame.
        keypoints_visible (np.ndarray, optional): (n, 17) visibility flags
            or scores; a joint is drawn where it is ``> keypoint_thr``.
            Defaults to all visible.
        bboxes (np.ndarray, optional): (n, 4) xyxy boxes to outline.
        alpha (float): Mask opacity.
        keypoint_thr (float): Visibility threshold.
        draw_numbers (bool): Write the rank number on each instance.
        draw_skeleton (bool): Draw COCO-17 skeletons.

    Returns:
        np.ndarray: (H, W, 3) uint8 drawn copy of ``image``.
    """
    img = np.ascontiguousarray(
        np.asarray(image).clip(0, 255).astype(np.uint8)).copy()
    h, w = img.shape[:2]
    masks = np.asarray(masks)
    n = masks.shape[0] if masks.ndim == 3 else 0
    if n == 0:
        return img
    mh, mw = masks.shape[1:]
    masks = _resize_masks(masks > 0.5, (h, w))
    sx, sy = w / mw, h / mh
    ranks = np.arange(1, n + 1) if ranks is None else np.asarray(ranks)
    if len(ranks) != n:
        raise ValueError(f'got {n} masks but {len(ranks)} ranks')
    base = max(h, w)
    thickness = max(1, int(round(base / 200)))
    font_scale = max(0.4, base / 500)
    # paint least salient first; unranked (<= 0) before everything
    order = sorted(
        range(n), key=lambda i: -ranks[i] if ranks[i] > 0 else -np.inf)
    overlay = img.astype(np.float32)
    for i in order:
        colour = np.array(rank_colour(ranks[i]), dtype=np.float32)
        m = masks[i]
        overlay[m] = (1 - alpha) * overlay[m] + alpha * colour
    img = overlay.clip(0, 255).astype(np.uint8)
    for i in order:
        colour = rank_colour(ranks[i])
        contours, _ = cv2.findContours(masks[i].astype(np.uint8),
                                       cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, colour, thickness)
        if bboxes is not None:
            x1, y1, x2, y2 = np.asarray(
                bboxes[i], dtype=np.float64) * [sx, sy, sx, sy]
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), colour,
                          thickness)
    if draw_skeleton and keypoints is not None:
        kpts = np.asarray(
            keypoints, dtype=np.float64).reshape(n, NUM_KEYPOINTS,
                                                 -1)[..., :2] * [sx, sy]
        vis = np.ones((n, NUM_KEYPOINTS)) if keypoints_visible is None \
            else np.asarray(keypoints_visible, dtype=np.float64).reshape(
                n, NUM_KEYPOINTS)
        for i in order:
            colour = rank_colour(ranks[i])
            shown = vis[i] > keypoint_thr
            if not shown.any():
                continue
            pts = np.round(kpts[i]).astype(int)
            for a, b in COCO_SKELETON:
                if shown[a] and shown[b]:
                    cv2.line(img, tuple(pts[a]), tuple(pts[b]),
                             (255, 255, 255), thickness + 2, cv2.LINE_AA)
                    cv2.line(img, tuple(pts[a]), tuple(pts[b]), colour,
                             thickness, cv2.LINE_AA)
            for j in np.nonzero(shown)[0]:
                cv2.circle(img, tuple(pts[j]), thickness + 1, (255, 255, 255),
                           -1, cv2.LINE_AA)
    if draw_numbers:
        for i in order:
            ys, xs = np.nonzero(masks[i])
            if len(xs) == 0:
                continue
            # a point of the mask close to its centroid
            k = int(np.argmin((xs - xs.mean())**2 + (ys - ys.mean())**2))
            label = str(int(ranks[i])) if ranks[i] > 0 else '-'
            _put_label(img, label, (int(xs[k]), int(ys[k])),
                       rank_colour(ranks[i]), font_scale, thickness)
    return img
