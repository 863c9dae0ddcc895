# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR's inference post-processing, as one test_cfg-driven component.

:class:`SORPostProcessor` chooses the queries that go on to the pose-ranking
head (:meth:`SORPostProcessor.select_queries`) and turns the heads' logits
into ranked instances (:meth:`SORPostProcessor.predict`): rank scores from
the rank logits, sorting, resizing to the output frame, the reference's
duplicate merging, keypoints from the heatmaps and boxes.
"""
import copy
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.structures import InstanceData
from torch import Tensor

from ..task_modules.bbox_utils import cxcyhw_to_xyxy
from ..task_modules.query_slots import QuerySlots

# Guard of the reference against empty masks in the overlap ratio.
AREA_EPS = 1e-6
# The reference's guard of 1 / k at the unused rank level k = 0.
RANK_WEIGHT_EPS = 1e-6
# The top-1 query is always kept: its score minus this margin is a threshold.
TOP1_MARGIN = 1e-6

DEFAULT_TEST_CFG = dict(
    obj_threshold=0.1,
    maskness_threshold=0.95,
    mask_threshold=0.5,
    merge_duplicates=True,
    with_heatmaps=False,
    with_partitions=False,
    heatmap_chunk_elements=2**25,
    mask_chunk_elements=2**25)
# Pixels per step of the pairwise mask intersections: float32 sums of 0/1
# stay exact up to 2**24, and the float copy of a step stays small.
INTERSECTION_CHUNK_PIXELS = 2**21


def select_queries(scores: Tensor, obj_threshold: float) -> QuerySlots:
    """Keep the queries whose objectness >= min(top-1 score, threshold).

    Args:
        scores (Tensor): (B, Nq, 1) objectness logits.
        obj_threshold (float): Objectness probability threshold.

    Returns:
        QuerySlots: Image, query and slot index (0.. within each image,
        queries in ascending order) of every kept query; as many slots as
        the most queries kept in one image.
    """
    probs = scores.sigmoid()[..., 0]  # B, Nq
    top1 = probs.max(dim=1, keepdim=True).values - TOP1_MARGIN
    threshold = torch.clamp(top1, max=obj_threshold)
    hits = probs >= threshold
    bi, qi = torch.where(hits)
    ti = (hits.long().cumsum(dim=1) - 1)[bi, qi]
    n_max = int(hits.sum(dim=1).max()) if hits.numel() else 0
    return QuerySlots(bi, qi, ti, n_max)


def rank_scores_from_logits(rank_logits: Tensor) -> Tensor:
    """Expected inverse rank: sum_k softmax(logits)_k * w_k, w_0 = 0 and
    w_k = 1 / k (level 0 means "not salient").

    Args:
        rank_logits (Tensor): (..., L) logits over L rank levels.

    Returns:
        Tensor: (...) rank scores (higher = more salient).
    """
    levels = torch.arange(
        rank_logits.shape[-1],
        device=rank_logits.device,
        dtype=rank_logits.dtype)
    weights = 1.0 / (levels + RANK_WEIGHT_EPS)
    weights[0] = 0.0
    return (rank_logits.softmax(dim=-1) * weights).sum(dim=-1)


def mask_intersections(masks: Tensor,
                       others: Optional[Tensor] = None,
                       chunk: int = INTERSECTION_CHUNK_PIXELS) -> Tensor:
    """Pairwise intersection areas of flattened bool masks, computed over
    pixel chunks so that no float copy of all the masks is made (at 6000 x
    4000 pixels, 16 masks as float32 take 1.5 GiB).

    Args:
        masks (Tensor): (n, P) bool masks.
        others (Tensor, optional): (m, P) bool masks. Defaults to ``masks``.
        chunk (int): Pixels per step.

    Returns:
        Tensor: (n, m) float64 intersection areas.
    """
    others = masks if others is None else others
    inter = masks.new_zeros((masks.shape[0], others.shape[0]),
                            dtype=torch.float64)
    for start in range(0, masks.shape[1], chunk):
        a = masks[:, start:start + chunk].float()
        b = a if others is masks else others[:, start:start + chunk].float()
        inter += (a @ b.T).double()
    return inter


def intersections_with(masks: Tensor, row: Tensor) -> Tensor:
    """Intersection areas of flattened bool masks with one of the same
    length, by a logical and per mask (converting every mask to float for a
    product would cost more than the and).

    Args:
        masks (Tensor): (n, P) bool masks.
        row (Tensor): (P, ) bool mask.

    Returns:
        Tensor: (n, ) float64 intersection areas.
    """
    if masks.shape[0] == 0:
        return masks.new_zeros((0, ), dtype=torch.float64)
    return torch.stack([torch.count_nonzero(mask & row)
                        for mask in masks]).double()


def merge_duplicates(
        masks: Tensor, scores: Tensor,
        maskness_threshold: float) -> Tuple[Tensor, Tensor, Tensor]:
    """The reference's duplicate merging, vectorised where exact.

    Instances are visited in the given (rank) order. Instance ``j`` after
    ``i`` is merged into ``i`` when their overlap ratio ("maskness",
    intersection over the smaller area) exceeds ``maskness_threshold`` and
    ``score_i + score_j < 1 + maskness``; ``i`` then takes the union mask and
    the larger score, and its later comparisons use the merged mask. Passes
    repeat until one merges nothing. Pairwise intersections come from one
    matrix product. When no pair qualifies (the usual case) the first pass
    would merge nothing, so the check is done on the device at once and the
    masks are returned unchanged; only otherwise the greedy passes run (on
    the host, as their order matters), recomputing just the row of a grown
    mask.

    Args:
        masks (Tensor): (n, H, W) bool masks, in rank order.
        scores (Tensor): (n,) objectness probabilities.
        maskness_threshold (float): Overlap-ratio threshold.

    Returns:
        tuple: ``keep`` (m,) indices of the surviving instances (ascending),
        their merged masks (m, H, W) bool and merged scores (m,).
    """
    keep = torch.arange(masks.shape[0], device=masks.device)
    if masks.shape[0] < 2:
        return keep, masks, scores
    inter = mask_intersections(masks.flatten(1))
    areas = inter.diagonal() + AREA_EPS
    maskness = inter / torch.minimum(areas[:, None], areas[None, :])
    pair_scores = scores.double()[:, None] + scores.double()[None, :]
    mergeable = (maskness > maskness_threshold) & (
        pair_scores < 1.0 + maskness)
    if not bool(mergeable.triu(diagonal=1).any()):
        return keep, masks, scores
    masks = masks.clone()
    scores = scores.clone()
    while masks.shape[0] > 0:
        n = masks.shape[0]
        flat = masks.flatten(1)
        inter = mask_intersections(flat).cpu().numpy()
        # the diagonal holds the areas (a sum over the bool masks would
        # first cast all of them to int64)
        areas = inter.diagonal().copy()
        score_list = scores.double().cpu().numpy()
        alive = np.ones(n, dtype=bool)
        for i in range(n):
            if not alive[i]:
                continue
            for j in range(i + 1, n):
                if not alive[j]:
                    continue
                maskness = inter[i, j] / min(areas[i] + AREA_EPS,
                                             areas[j] + AREA_EPS)
                if (maskness > maskness_threshold
                        and score_list[i] + score_list[j] < 1.0 + maskness):
                    masks[i] |= masks[j]
                    score_list[i] = max(score_list[i], score_list[j])
                    scores[i] = torch.maximum(scores[i], scores[j])
                    alive[j] = False
                    inter[i] = intersections_with(flat, flat[i]).cpu().numpy()
                    areas[i] = inter[i, i]
        if alive.all():
            break
        alive_t = torch.from_numpy(alive).to(masks.device)
        keep, masks, scores = keep[alive_t], masks[alive_t], scores[alive_t]
    return keep, masks, scores


def to_output_frame(maps: Tensor, meta: dict, out_size: Tuple[int,
                                                              int]) -> Tensor:
    """Resize maps predicted over the padded input to the output frame.

    Without padding this is one bilinear resize (as the reference); with
    padding the maps are first upsampled to the padded input size and cropped
    to ``img_shape``.

    Args:
        maps (Tensor): (N, C, h, w) maps covering ``batch_input_shape``.
        meta (dict): Sample metainfo.
        out_size (tuple[int, int]): Output (H, W).

    Returns:
        Tensor: (N, C, H, W).
    """
    img_h, img_w = meta['img_shape'][:2]
    pad_h, pad_w = meta.get('batch_input_shape', (img_h, img_w))
    if (pad_h, pad_w) != (img_h, img_w):
        maps = F.interpolate(
            maps, size=(pad_h, pad_w), mode='bilinear',
            align_corners=False)[..., :img_h, :img_w]
    return F.interpolate(
        maps, size=out_size, mode='bilinear', align_corners=False)


@MODELS.register_module()
class SORPostProcessor:
    """Query selection and post-processing of PoseSOR-style SOR models.

    Reads the logits of an instance head (``scores`` (B, Nq, 1)) and of a
    ranking head whose slots hold the selected queries (``ranks``
    (B, n, L), ``masks`` (B, n, h, w) and optionally ``keypoints``
    (B, n, K, 3), ``heatmaps`` (B, n, K, h, w), ``bboxes`` (B, n, 4) and
    ``partitions`` (B, n, h', w')), so other SOR heads can reuse it.
    Subclasses change the valid ``test_cfg`` keys and their defaults
    (:attr:`default_test_cfg`) and how the slots are ordered
    (:meth:`rank_order`).

    Args:
        test_cfg (dict, optional): ``obj_threshold`` (0.1; queries with
            objectness >= min(top-1, threshold) are kept),
            ``maskness_threshold`` (0.95; duplicate merging),
            ``mask_threshold`` (0.5), ``merge_duplicates`` (True),
            ``with_heatmaps`` / ``with_partitions`` (False; add per-joint
            heatmap probabilities (n, K, H, W) / next-target probabilities
            (n, H, W) to the predictions) and ``heatmap_chunk_elements``
            (2**25; heatmaps are upsampled for the keypoint argmax in chunks
            of at most this many output pixels, bounding the memory) and
            ``mask_chunk_elements`` (2**25; the same for the masks).
    """

    #: The valid ``test_cfg`` keys and their defaults.
    default_test_cfg: Dict = DEFAULT_TEST_CFG

    def __init__(self, test_cfg: Optional[dict] = None) -> None:
        defaults = self.default_test_cfg
        unknown = set(test_cfg or {}) - set(defaults)
        if unknown:
            raise KeyError(f'{type(self).__name__}: unknown test_cfg keys '
                           f'{sorted(unknown)}; valid keys: '
                           f'{sorted(defaults)}')
        self.test_cfg = copy.deepcopy(defaults)
        self.test_cfg.update(test_cfg or {})

    def select_queries(self, scores: Tensor) -> QuerySlots:
        """Queries that go on to the ranking head (see
        :func:`select_queries`); ``scores`` (B, Nq, 1) logits."""
        return select_queries(scores, self.test_cfg['obj_threshold'])

    def predict(self,
                instance_scores: Tensor,
                rank_outputs: Dict[str, Tensor],
                slots: QuerySlots,
                batch_data_samples: SampleList,
                rescale: bool = True) -> List[InstanceData]:
        """Ranked instances of every image.

        Args:
            instance_scores (Tensor): (B, Nq, 1) objectness logits.
            rank_outputs (dict[str, Tensor]): The ranking head's logits in
                ``slots`` (see the class docstring).
            slots (QuerySlots): The selected queries.
            batch_data_samples (list[DetDataSample]): Samples with metainfo
                ``img_shape``, ``ori_shape`` (and ``batch_input_shape``).
            rescale (bool): Results at ``ori_shape`` (True) or at
                ``img_shape``.

        Returns:
            list[InstanceData]: Per image, sorted by rank (most salient
            first): ``masks`` (n, H, W) bool, ``scores`` (objectness
            probability), ``rank_scores``, ``ranks`` (1..n), ``labels``
            (zeros), ``query_indices`` (n,); with keypoint outputs
            ``keypoints`` (n, K, 2) pixels (argmax of the upsampled
            heatmaps: the joints the reference evaluates and draws),
            ``keypoint_scores`` (n, K) visibility probability and
            ``keypoints_explicit`` (n, K, 2) pixels (the regressed joints);
            with box outputs ``bboxes`` (n, 4) xyxy pixels; on request
            ``heatmaps`` (n, K, H, W) / ``partitions`` (n, H, W).
        """
        results = []
        for i, sample in enumerate(batch_data_samples):
            mine = slots.of_image(i)
            results.append(
                self._predict_one(instance_scores[i, mine.query_inds, 0],
                                  mine.query_inds, {
                                      k: v[i, mine.slot_inds]
                                      for k, v in rank_outputs.items()
                                  }, sample.metainfo, rescale))
        return results

    def rank_order(self, outputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """Rank scores of one image's n instances and their rank order.

        Args:
            outputs (dict[str, Tensor]): The ranking head's outputs of the
                n instances; ``ranks`` (n, L) logits over rank levels.

        Returns:
            tuple[Tensor, Tensor]: ``rank_scores`` (n,) (the expected
            inverse rank, :func:`rank_scores_from_logits`) and ``order``
            (n,), the instances most salient first (a stable sort).
        """
        rank_scores = rank_scores_from_logits(outputs['ranks'].float())
        order = torch.sort(rank_scores, descending=True, stable=True).indices
        return rank_scores, order

    def _predict_one(self, instance_scores: Tensor, query_indices: Tensor,
                     outputs: Dict[str, Tensor], meta: dict,
                     rescale: bool) -> InstanceData:
        """Rank, resize and de-duplicate one image's n kept instances.

        Args:
            instance_scores (Tensor): (n,) objectness logits.
            query_indices (Tensor): (n,) decoder query indices.
            outputs (dict[str, Tensor]): The ranking head's logits of the n
                instances (leading axis n).
            meta (dict): Sample metainfo.
            rescale (bool): Output at ``ori_shape`` (else ``img_shape``).

        Returns:
            InstanceData: The image's ranked predictions.
        """
        cfg = self.test_cfg
        img_h, img_w = meta['img_shape'][:2]
        pad_h, pad_w = meta.get('batch_input_shape', (img_h, img_w))
        out_h, out_w = (meta['ori_shape'][:2] if rescale else (img_h, img_w))

        rank_scores, order = self.rank_order(outputs)
        scores = instance_scores.float().sigmoid()[order]
        masks = self._binary_masks(outputs['masks'][order], meta,
                                   (out_h, out_w))
        if cfg['merge_duplicates']:
            keep, masks, scores = merge_duplicates(masks, scores,
                                                   cfg['maskness_threshold'])
            order = order[keep]
        num = len(order)

        results = InstanceData()
        results.masks = masks
        results.scores = scores
        results.rank_scores = rank_scores[order]
        results.ranks = torch.arange(1, num + 1, device=order.device)
        results.labels = torch.zeros(
            num, dtype=torch.long, device=order.device)
        results.query_indices = query_indices[order]
        # the network's normalised coordinates cover the padded input
        to_out = rank_scores.new_tensor(
            [pad_w * out_w / img_w, pad_h * out_h / img_h])
        if 'keypoints' in outputs:
            kpt_logits = outputs['keypoints'][order].float()
            results.keypoint_scores = kpt_logits[..., 2].sigmoid()
            results.keypoints_explicit = kpt_logits[..., :2].sigmoid() * to_out
        if 'bboxes' in outputs:
            results.bboxes = cxcyhw_to_xyxy(
                outputs['bboxes'][order].float().sigmoid()) * to_out.repeat(2)
        if 'heatmaps' in outputs:
            results.keypoints, heatmaps = self._heatmap_keypoints(
                outputs['heatmaps'][order], meta, (out_h, out_w))
            if cfg['with_heatmaps']:
                results.heatmaps = heatmaps
        if 'partitions' in outputs and cfg['with_partitions']:
            parts = to_output_frame(outputs['partitions'][order, None].float(),
                                    meta, (out_h, out_w))
            results.partitions = parts[:, 0].sigmoid()
        return results

    def _binary_masks(self, mask_logits: Tensor, meta: dict,
                      out_size: Tuple[int, int]) -> Tensor:
        """Masks at the output size, resized and thresholded in chunks of at
        most ``mask_chunk_elements`` output pixels (a full-resolution float
        copy of all masks is what dominated the memory of large images).

        Args:
            mask_logits (Tensor): (n, h, w) logits over the padded input.
            meta (dict): Sample metainfo.
            out_size (tuple[int, int]): Output (H, W).

        Returns:
            Tensor: (n, H, W) bool, ``sigmoid > mask_threshold``.
        """
        num = mask_logits.shape[0]
        out_h, out_w = out_size
        masks = torch.empty((num, out_h, out_w),
                            dtype=torch.bool,
                            device=mask_logits.device)
        chunk = max(1, self.test_cfg['mask_chunk_elements'] // (out_h * out_w))
        for start in range(0, num, chunk):
            logits = to_output_frame(
                mask_logits[start:start + chunk, None].float(), meta, out_size)
            masks[start:start + chunk] = \
                logits[:, 0].sigmoid() > self.test_cfg['mask_threshold']
        return masks

    def _heatmap_keypoints(
            self, heatmaps: Tensor, meta: dict,
            out_size: Tuple[int, int]) -> Tuple[Tensor, Optional[Tensor]]:
        """Joints at the first maximum of the upsampled heatmaps.

        All maps are processed together, in chunks of at most
        ``heatmap_chunk_elements`` output pixels.

        Args:
            heatmaps (Tensor): (n, K, h, w) logits.
            meta (dict): Sample metainfo.
            out_size (tuple[int, int]): Output (H, W).

        Returns:
            tuple: ``keypoints`` (n, K, 2) pixels (x, y) and, with
            ``with_heatmaps``, the per-joint softmax probabilities
            (n, K, H, W), else None.
        """
        num, num_joints = heatmaps.shape[:2]
        out_h, out_w = out_size
        maps = heatmaps.flatten(0, 1)[:, None].float()  # n * K, 1, h, w
        chunk = max(1,
                    self.test_cfg['heatmap_chunk_elements'] // (out_h * out_w))
        flat_idx, probs = [], []
        for start in range(0, maps.shape[0], chunk):
            heat = to_output_frame(maps[start:start + chunk], meta,
                                   out_size).flatten(1)
            # first maximum in row-major order, as the reference's argmax of
            # the per-joint softmax (softmax keeps the order)
            flat_idx.append(heat.argmax(dim=1))
            if self.test_cfg['with_heatmaps']:
                probs.append(heat.softmax(dim=1))
        if flat_idx:
            idx = torch.cat(flat_idx)
        else:
            idx = heatmaps.new_zeros((0, ), dtype=torch.long)
        keypoints = torch.stack(
            [idx % out_w,
             torch.div(idx, out_w, rounding_mode='floor')],
            dim=-1).float().view(num, num_joints, 2)
        if not self.test_cfg['with_heatmaps']:
            return keypoints, None
        if probs:
            heat = torch.cat(probs).view(num, num_joints, out_h, out_w)
        else:
            heat = heatmaps.new_zeros((0, num_joints, out_h, out_w),
                                      dtype=torch.float)
        return keypoints, heat
