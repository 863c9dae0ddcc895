# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Plain numpy/cv2 drawing of salient object rankings.

:func:`draw_sor_overlay` is the one drawing used by the visualizer (hence
``tools/test.py --show-dir``, ``tools/image_demo.py``, ``tools/demo.py`` and
``browse_dataset.py``) and by the web demo. It works on numpy arrays only.

Readability rules:

* The photo is desaturated first, so the only saturated colours left are
  the rank colours (rank 1 warm, later ranks cool, as in the paper's
  figures); each mask also gets an outline with a dark halo.
* Every instance gets a numbered badge at the most interior point of its
  mask that keeps clear of the badges placed before it (most salient
  first) and of the legend, found with a distance transform. Badges,
  lines and the legend scale with the image (legible from 128 px to
  4000 px).
* A legend of the rank colours sits in the image corner that masks cover
  least, so the drawing keeps the image's size.
"""
from typing import List, Optional, Sequence, Tuple

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

WHITE = (255, 255, 255)
HALO = (20, 20, 20)
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Badge radius as a fraction of the longer image side, and its floor in
# pixels (a 2-digit number stays readable on a 128 px image).
BADGE_RADIUS_FRACTION = 0.022
MIN_BADGE_RADIUS = 7
# Free space kept between two badges, in badge radii.
BADGE_GAP = 0.3
# Line thickness: one pixel per this many pixels of the longer side.
PIXELS_PER_LINE_WIDTH = 250
# Legend: opacity of its dark background; cell size in badge radii.
LEGEND_OPACITY = 0.7
LEGEND_CELL = 1.7
# Rank colours brighter than this (luma, 0-255) get dark digits.
LIGHT_LUMA = 150
# Opacity of the next-target partition tint (at probability 1).
PARTITION_ALPHA = 0.45


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


def badge_radius(height: int, width: int) -> int:
    """Radius in pixels of the rank badges on an image of this size."""
    return max(MIN_BADGE_RADIUS,
               int(round(BADGE_RADIUS_FRACTION * max(height, width))))


def line_width(height: int, width: int) -> int:
    """Outline / skeleton thickness in pixels on an image of this size."""
    return max(1, int(round(max(height, width) / PIXELS_PER_LINE_WIDTH)))


def desaturate(image: np.ndarray, amount: float) -> np.ndarray:
    """Blend an RGB/BGR image towards its grey level.

    Args:
        image (np.ndarray): (H, W, 3) uint8.
        amount (float): 0 keeps the colours, 1 gives a grey image.

    Returns:
        np.ndarray: (H, W, 3) float32.
    """
    img = image.astype(np.float32)
    grey = img.mean(axis=2, keepdims=True)
    return (1.0 - amount) * img + amount * grey


def _resize_stack(maps: np.ndarray, shape: Tuple[int, int],
                  interpolation: int) -> np.ndarray:
    """Resize (n, h, w) maps to ``shape`` (H, W)."""
    if maps.shape[1:] == tuple(shape):
        return maps
    out = np.zeros((maps.shape[0], ) + tuple(shape), dtype=np.float32)
    for i, m in enumerate(maps):
        out[i] = cv2.resize(
            m.astype(np.float32), (shape[1], shape[0]),
            interpolation=interpolation)
    return out


def _fit_text(text: str, height: float, max_width: float) -> Tuple[float, int]:
    """Font scale and thickness that fit ``text`` in a box."""
    (tw, th), _ = cv2.getTextSize(text, FONT, 1.0, 1)
    scale = min(height / th, max_width / tw)
    return scale, max(1, int(round(scale * 2.2)))


def text_colour(colour: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """White or near-black, whichever reads better on ``colour``."""
    r, g, b = colour
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    return HALO if luma > LIGHT_LUMA else WHITE


def draw_badge(img: np.ndarray, text: str, centre: Tuple[int, int],
               radius: int, colour: Tuple[int, int, int]) -> None:
    """A disc of the rank colour, white rim and dark edge, with the number.

    Args:
        img (np.ndarray): (H, W, 3) uint8 image, drawn in place.
        text (str): The label (rank number).
        centre (tuple[int, int]): (x, y) pixel centre.
        radius (int): Disc radius in pixels.
        colour (tuple[int, int, int]): Fill colour.
    """
    rim = max(1, radius // 6)
    cv2.circle(img, centre, radius, HALO, -1, cv2.LINE_AA)
    cv2.circle(img, centre, radius - 1, WHITE, -1, cv2.LINE_AA)
    cv2.circle(img, centre, max(1, radius - rim - 1), colour, -1, cv2.LINE_AA)
    _put_centred(img, text, centre, radius * 1.0, radius * 1.35,
                 text_colour(colour))


def _put_centred(img: np.ndarray, text: str, centre: Tuple[int, int],
                 height: float, max_width: float, colour: Tuple[int, int,
                                                                int]) -> None:
    """Write ``text`` centred on ``centre`` within a box (in place)."""
    scale, thick = _fit_text(text, height, max_width)
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    org = (int(round(centre[0] - tw / 2)), int(round(centre[1] + th / 2)))
    cv2.putText(img, text, org, FONT, scale, colour, thick, cv2.LINE_AA)


def place_badges(
        masks: np.ndarray,
        radius: int,
        order: Sequence[int],
        blocked: Optional[np.ndarray] = None
) -> List[Optional[Tuple[int, int]]]:
    """Badge centres, one per mask, that do not overlap.

    Masks are served in ``order`` (most salient first). Each badge goes to
    the point of its mask farthest from the mask's border, among the
    points whose disc would stay clear of the badges already placed, of
    ``blocked`` and of the image border. A mask with no such point (tiny,
    or covered by other badges) gets the free point closest to its own
    interior point.

    Args:
        masks (np.ndarray): (n, H, W) bool masks.
        radius (int): Badge radius in pixels.
        order (Sequence[int]): Indices into ``masks``, placement order.
        blocked (np.ndarray, optional): (H, W) bool pixels a badge must not
            cover (e.g. the legend).

    Returns:
        list[tuple[int, int] | None]: (x, y) centre of each mask, indexed
        like ``masks``; None for an empty mask.
    """
    n, h, w = masks.shape
    # pixels where a badge centre may go: clear of blocked pixels and of
    # the image border by one radius
    free = np.ones((h, w), np.uint8)
    if blocked is not None:
        free[blocked] = 0
    if h > 2 * radius and w > 2 * radius:
        free[:radius] = free[-radius:] = 0
        free[:, :radius] = free[:, -radius:] = 0
    if blocked is not None and blocked.any():
        # a centre must be one radius away from every blocked pixel
        clear = cv2.distanceTransform((~blocked).astype(np.uint8), cv2.DIST_L2,
                                      5) > radius
        free &= clear.astype(np.uint8)
    spacing = int(np.ceil((2 + BADGE_GAP) * radius))
    centres: List[Optional[Tuple[int, int]]] = [None] * n
    for i in order:
        mask = masks[i].astype(np.uint8)
        if not mask.any():  # nothing to label
            continue
        interior = cv2.distanceTransform(
            cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, 0),
            cv2.DIST_L2, 5)[1:-1, 1:-1]
        candidates = interior * free
        if candidates.max() > 0:
            y, x = np.unravel_index(int(np.argmax(candidates)), (h, w))
        elif free.any():
            # nowhere inside: the free point nearest the mask's own centre
            cy, cx = np.unravel_index(int(np.argmax(interior)), (h, w))
            ys, xs = np.nonzero(free)
            k = int(np.argmin((xs - cx)**2 + (ys - cy)**2))
            y, x = ys[k], xs[k]
        else:  # the image is full of badges: accept an overlap
            y, x = np.unravel_index(int(np.argmax(interior)), (h, w))
        centres[i] = (int(x), int(y))
        cv2.circle(free, (int(x), int(y)), spacing, 0, -1)
    return centres


def _legend_box(masks: np.ndarray, box_w: int, box_h: int) -> Tuple[int, int]:
    """Top-left corner of the image corner that masks cover least."""
    h, w = masks.shape[1:]
    box_w, box_h = min(box_w, w), min(box_h, h)
    union = masks.any(axis=0) if len(masks) else np.zeros((h, w), bool)
    corners = [(0, 0), (w - box_w, 0), (0, h - box_h), (w - box_w, h - box_h)]
    cover = [union[y:y + box_h, x:x + box_w].sum() for x, y in corners]
    return corners[int(np.argmin(cover))]


def draw_legend(img: np.ndarray, ranks: Sequence[int], radius: int,
                masks: np.ndarray) -> np.ndarray:
    """Draw a legend of the rank colours in the least covered corner.

    Args:
        img (np.ndarray): (H, W, 3) uint8 image, drawn in place.
        ranks (Sequence[int]): The ranks shown (one cell per distinct
            colour; the last cell reads ``N+`` when ranks share it).
        radius (int): Badge radius; cells are a bit smaller.
        masks (np.ndarray): (n, H, W) bool masks, to choose the corner.

    Returns:
        np.ndarray: (H, W) bool footprint of the legend.
    """
    h, w = img.shape[:2]
    footprint = np.zeros((h, w), bool)
    shown = sorted({int(r) for r in ranks if r > 0})
    if not shown:
        return footprint
    last = len(RANK_COLOURS)
    labels = [str(r) for r in shown if r < last]
    if shown[-1] >= last:
        labels.append(f'{last}+' if shown[-1] > last else str(last))
    cell = int(round(LEGEND_CELL * radius))
    pad = max(1, cell // 5)
    box_w, box_h = pad + len(labels) * (cell + pad), cell + 2 * pad
    if box_w > w or box_h > h:
        return footprint
    x0, y0 = _legend_box(masks, box_w, box_h)
    region = img[y0:y0 + box_h, x0:x0 + box_w]
    region[:] = (region * (1 - LEGEND_OPACITY) +
                 np.array(HALO) * LEGEND_OPACITY).astype(np.uint8)
    for k, label in enumerate(labels):
        x = x0 + pad + k * (cell + pad)
        colour = rank_colour(int(label.rstrip('+')))
        cv2.rectangle(img, (x, y0 + pad), (x + cell - 1, y0 + pad + cell - 1),
                      colour, -1)
        _put_centred(img, label, (x + cell // 2, y0 + pad + cell // 2),
                     cell * 0.55, cell * 0.8, text_colour(colour))
    footprint[y0:y0 + box_h, x0:x0 + box_w] = True
    return footprint


def _draw_partitions(canvas: np.ndarray, partitions: np.ndarray,
                     ranks: np.ndarray) -> None:
    """Tint each pixel with the rank colour of the instance whose
    next-target partition is most probable there (in place)."""
    best = partitions.argmax(axis=0)
    prob = partitions.max(axis=0)
    colours = np.array([rank_colour(r) for r in ranks], np.float32)
    weight = (PARTITION_ALPHA * np.clip(prob, 0, 1))[..., None]
    canvas[:] = (1 - weight) * canvas + weight * colours[best]


def draw_sor_overlay(image: np.ndarray,
                     masks: np.ndarray,
                     ranks: Optional[Sequence[int]] = None,
                     keypoints: Optional[np.ndarray] = None,
                     keypoints_visible: Optional[np.ndarray] = None,
                     bboxes: Optional[np.ndarray] = None,
                     partitions: Optional[np.ndarray] = None,
                     alpha: float = 0.55,
                     keypoint_thr: float = 0.5,
                     draw_masks: bool = True,
                     draw_numbers: bool = True,
                     draw_skeleton: bool = True,
                     draw_legend_box: bool = True,
                     desaturation: float = 0.8) -> np.ndarray:
    """Draw masks coloured by rank, rank badges, skeletons and a legend.

    Instances are painted from the least to the most salient so that the
    most salient one stays on top where masks overlap. Inputs whose masks
    are not at the image size are resized (nearest) to it, and keypoints and
    boxes are scaled by the same factors. Without instances the image is
    returned unchanged.

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
        partitions (np.ndarray, optional): (n, h, w) next-target partition
            probabilities in the masks' frame; tints each pixel with the
            colour of the instance whose partition is most probable there.
        alpha (float): Mask opacity.
        keypoint_thr (float): Visibility threshold.
        draw_masks (bool): Fill and outline the masks.
        draw_numbers (bool): Put a rank badge on each instance.
        draw_skeleton (bool): Draw COCO-17 skeletons.
        draw_legend_box (bool): Draw the legend of the rank colours.
        desaturation (float): How far the photo is turned grey (0 keeps
            its colours) so scene colours do not pass for rank colours.

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
    masks = _resize_stack(masks > 0.5, (h, w), cv2.INTER_NEAREST) > 0.5
    sx, sy = w / mw, h / mh
    ranks = np.arange(1, n + 1) if ranks is None else np.asarray(ranks)
    if len(ranks) != n:
        raise ValueError(f'got {n} masks but {len(ranks)} ranks')
    thickness = line_width(h, w)
    radius = badge_radius(h, w)
    # paint least salient first; unranked (<= 0) before everything
    order = sorted(
        range(n), key=lambda i: -ranks[i] if ranks[i] > 0 else -np.inf)

    canvas = desaturate(img, desaturation)
    if partitions is not None:
        parts = np.asarray(partitions, dtype=np.float32)
        if parts.shape[0] != n:
            raise ValueError(f'got {n} masks but {parts.shape[0]} partition '
                             'maps')
        _draw_partitions(canvas, _resize_stack(parts, (h, w),
                                               cv2.INTER_LINEAR), ranks)
    if draw_masks:
        for i in order:
            colour = np.array(rank_colour(ranks[i]), dtype=np.float32)
            m = masks[i]
            canvas[m] = (1 - alpha) * canvas[m] + alpha * colour
    img = canvas.clip(0, 255).astype(np.uint8)
    if draw_masks:
        for i in order:
            contours, _ = cv2.findContours(masks[i].astype(np.uint8),
                                           cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(img, contours, -1, HALO, thickness + 2)
            cv2.drawContours(img, contours, -1, rank_colour(ranks[i]),
                             thickness)
    if bboxes is not None:
        for i in order:
            x1, y1, x2, y2 = np.asarray(
                bboxes[i], dtype=np.float64) * [sx, sy, sx, sy]
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)),
                          rank_colour(ranks[i]), thickness)
    if draw_skeleton and keypoints is not None:
        _draw_skeletons(img, keypoints, keypoints_visible, ranks, order,
                        (sx, sy), keypoint_thr, thickness)
    legend = None
    if draw_legend_box:
        legend = draw_legend(img, ranks, radius, masks)
    if draw_numbers:
        # most salient first: rank 1 gets the best spot
        first = sorted(
            range(n), key=lambda i: ranks[i] if ranks[i] > 0 else np.inf)
        centres = place_badges(masks, radius, first, blocked=legend)
        for i in order:
            if centres[i] is None:
                continue
            label = str(int(ranks[i])) if ranks[i] > 0 else '-'
            draw_badge(img, label, centres[i], radius, rank_colour(ranks[i]))
    return img


def _draw_skeletons(img: np.ndarray, keypoints: np.ndarray,
                    keypoints_visible: Optional[np.ndarray], ranks: np.ndarray,
                    order: Sequence[int], scale: Tuple[float, float],
                    keypoint_thr: float, thickness: int) -> None:
    """COCO-17 skeletons: white bones, joints in the rank colour (in
    place)."""
    n = len(ranks)
    kpts = np.asarray(
        keypoints, dtype=np.float64).reshape(n, NUM_KEYPOINTS,
                                             -1)[..., :2] * scale
    vis = np.ones((n, NUM_KEYPOINTS)) if keypoints_visible is None \
        else np.asarray(keypoints_visible, dtype=np.float64).reshape(
            n, NUM_KEYPOINTS)
    for i in order:
        colour = rank_colour(ranks[i])
        shown = vis[i] > keypoint_thr
        if not shown.any():
            continue
        pts = np.round(kpts[i]).astype(int)
        # white bones with a dark halo read on any rank colour; the halo
        # is left out on small images, where it would cover thin limbs
        for a, b in COCO_SKELETON:
            if shown[a] and shown[b]:
                if thickness > 1:
                    cv2.line(img, tuple(pts[a]), tuple(pts[b]), HALO,
                             thickness + 2, cv2.LINE_AA)
                cv2.line(img, tuple(pts[a]), tuple(pts[b]), WHITE, thickness,
                         cv2.LINE_AA)
        joint = thickness + 1 if thickness > 1 else 1
        for j in np.nonzero(shown)[0]:
            cv2.circle(img, tuple(pts[j]), joint, colour, -1, cv2.LINE_AA)
            cv2.circle(img, tuple(pts[j]), joint, WHITE,
                       max(1, thickness // 2), cv2.LINE_AA)
