# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Keypoint-aware geometric transforms for SOR data."""
from typing import Sequence, Tuple

import numpy as np
from mmdet.datasets.transforms import RandomFlip, Resize
from mmdet.registry import TRANSFORMS

# COCO-17 left/right joint pairs (eyes, ears, shoulders, elbows, wrists,
# hips, knees, ankles).
COCO_FLIP_PAIRS: Tuple[Tuple[int, int],
                       ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10),
                               (11, 12), (13, 14), (15, 16))


@TRANSFORMS.register_module()
class SORResize(Resize):
    """mmdet ``Resize`` that also scales ``gt_keypoints``.

    The reference resizes every image to a square ignoring the aspect
    ratio: use ``scale=(S, S), keep_ratio=False`` for that (the default
    here). Keypoints are multiplied by ``scale_factor`` ``(w, h)``, which
    is what the reference's normalised keypoints amount to.

    Added/modified keys: those of mmdet ``Resize`` and ``gt_keypoints``
    ((n, 17, 2) float32 pixels).
    """

    def __init__(self, *args, keep_ratio: bool = False, **kwargs) -> None:
        super().__init__(*args, keep_ratio=keep_ratio, **kwargs)

    def _resize_keypoints(self, results: dict) -> None:
        if results.get('gt_keypoints') is None:
            return
        w_scale, h_scale = results['scale_factor']
        kpts = np.asarray(results['gt_keypoints'], dtype=np.float32).copy()
        kpts[..., 0] *= w_scale
        kpts[..., 1] *= h_scale
        results['gt_keypoints'] = kpts

    def transform(self, results: dict) -> dict:
        """Resize image, boxes, masks and keypoints.

        Args:
            results (dict): Result dict.

        Returns:
            dict: Resized results.
        """
        results = super().transform(results)
        self._resize_keypoints(results)
        return results


@TRANSFORMS.register_module()
class SORRandomFlip(RandomFlip):
    """mmdet ``RandomFlip`` that also flips ``gt_keypoints``.

    Coordinates are mirrored as ``x' = w - x`` (``y' = h - y`` for vertical
    flips), the convention of mmdet boxes and of the reference's
    ``1 - x`` on normalised keypoints. The reference does *not* swap left
    and right joints after a flip (so a flipped "left wrist" lies on the
    person's right): that faithful behaviour is the default. Set
    ``swap_keypoint_pairs=True`` to also swap the COCO flip pairs (and
    their visibility), which keeps joint semantics correct.

    Args:
        swap_keypoint_pairs (bool): Swap left/right joints after a
            horizontal or diagonal flip. Defaults to False (faithful).
        flip_pairs (Sequence[tuple[int, int]]): Joint pairs to swap.
            Defaults to the COCO-17 pairs.
        **kwargs: mmdet ``RandomFlip`` arguments (``prob``,
            ``direction``).
    """

    def __init__(self,
                 *args,
                 swap_keypoint_pairs: bool = False,
                 flip_pairs: Sequence[Tuple[int, int]] = COCO_FLIP_PAIRS,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.swap_keypoint_pairs = swap_keypoint_pairs
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)

    def _flip_keypoints(self, results: dict) -> None:
        if results.get('gt_keypoints') is None:
            return
        h, w = results['img_shape'][:2]
        direction = results['flip_direction']
        kpts = np.asarray(results['gt_keypoints'], dtype=np.float32).copy()
        if direction in ('horizontal', 'diagonal'):
            kpts[..., 0] = w - kpts[..., 0]
        if direction in ('vertical', 'diagonal'):
            kpts[..., 1] = h - kpts[..., 1]
        if self.swap_keypoint_pairs and direction in ('horizontal',
                                                      'diagonal'):
            perm = np.arange(kpts.shape[1])
            for a, b in self.flip_pairs:
                perm[a], perm[b] = b, a
            kpts = kpts[:, perm]
            if results.get('gt_keypoints_visible') is not None:
                results['gt_keypoints_visible'] = np.asarray(
                    results['gt_keypoints_visible'])[:, perm]
        results['gt_keypoints'] = kpts

    def _flip(self, results: dict) -> None:
        """Flip image, boxes, masks, segmentation maps and keypoints."""
        super()._flip(results)
        self._flip_keypoints(results)

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', swap_keypoint_pairs={self.swap_keypoint_pairs})')
