# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Optional mmpose top-down pose estimator for PoseSOR predictions.

PoseSOR predicts a pose for every instance itself. A user may prefer the
poses of a dedicated mmpose top-down model (RTMPose, HRNet, ...). The
:class:`TopdownPoseRefiner` runs such a model on the predicted boxes of the
instances that PoseSOR considers *persons* and replaces their keypoints.

Person rule
    PoseSOR has no class head; its keypoint branch is trained with all
    visibility labels 0 for non-person instances (and for persons without
    annotated joints). An instance is therefore taken as a person when at
    least ``min_visible_keypoints`` of its 17 predicted keypoint scores
    (visibility probabilities, ``pred_instances.keypoint_scores``) are
    ``>= visible_thr``. Defaults: ``visible_thr=0.5`` (the threshold the
    reference uses to call a joint visible) and ``min_visible_keypoints=1``.

Registry scopes
    mmpose's ``init_model`` and ``inference_topdown`` switch the global
    default registry scope to ``mmpose``. Every call into mmpose is wrapped in
    ``DefaultScope.overwrite_default_scope('mmpose')``, which restores the
    caller's scope (``mmdet``) afterwards, so nothing of mmdet's is resolved
    in mmpose's registries and vice versa.

Ranking from mmpose poses
    The refiner alone only replaces keypoints after the ranking is fixed.
    With ``model.rank_head.test_pose_source='external'``,
    :func:`rank_with_pose_estimator` ranks each batch twice: a first pass
    gives the kept instances and their boxes, mmpose estimates the persons'
    keypoints on those boxes, and a second pass of the rank head (not of the
    backbone) recomputes the ranking with PDR's joint tokens built from them
    (joints with an mmpose score ``>= keypoint_thr`` count as visible; see
    :mod:`posesor.models.heads.pose_source`). Extra cost per image: one
    rank-head pass and one post-processing pass; mmpose runs once.

Configuration (every field but ``config`` optional)::

    pose_estimator = dict(
        config='rtmpose-m_8xb256-420e_coco-256x192.py',
        checkpoint='rtmpose-m.pth',   # local path; no download
        visible_thr=0.5,
        min_visible_keypoints=1,
        keypoint_thr=0.3,             # mmpose joints that rank ('external')
        device=None)                  # default: the detector's device
"""
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmdet.registry import TASK_UTILS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from posesor.utils.checkpoint import safe_checkpoint_loading
from ..models.heads.pose_source import POSE_SOURCE_EXTERNAL

#: Value of ``pred_instances.keypoint_source`` for PoseSOR's own keypoints.
SOURCE_POSESOR = 'posesor'
#: Value of ``pred_instances.keypoint_source`` for mmpose keypoints.
SOURCE_MMPOSE = 'mmpose'
#: Number of COCO keypoints.
NUM_KEYPOINTS = 17
#: Boxes narrower or lower than this (pixels) are not sent to mmpose.
MIN_BOX_SIZE = 1.0
#: Person rule: an instance is a person when at least
#: ``PERSON_MIN_KEYPOINTS`` of its keypoint scores are >= this.
PERSON_VISIBLE_THR = 0.5
#: See ``PERSON_VISIBLE_THR``.
PERSON_MIN_KEYPOINTS = 1
#: mmpose joints scored at or above this are visible to PDR (the default
#: ``kpt_thr`` of mmpose's demos).
EXTERNAL_KEYPOINT_THR = 0.3

ImageType = Union[str, np.ndarray]


@TASK_UTILS.register_module()
class TopdownPoseRefiner:
    """Replace the keypoints of predicted persons with mmpose predictions.

    The mmpose model is kept outside the detector's module tree (this is not
    an ``nn.Module``), so its weights never enter PoseSOR checkpoints.

    Args:
        config (str | Config | dict): mmpose top-down config (file path or
            loaded config).
        checkpoint (str, optional): Local checkpoint of that model. ``None``
            keeps random weights (tests only).
        device (str | torch.device, optional): Device of the pose model.
            Defaults to ``'cpu'``.
        visible_thr (float): A PoseSOR keypoint score at or above this counts
            as a visible joint (person rule). Defaults to 0.5.
        min_visible_keypoints (int): Visible joints an instance needs to be
            a person (person rule). Defaults to 1.
        keypoint_thr (float): mmpose joints scored at or above this are
            visible to PDR when they rank (:func:`rank_with_pose_estimator`).
            Defaults to 0.3.
        cfg_options (dict, optional): Overrides of the mmpose config.
    """

    def __init__(self,
                 config: Union[str, Config, dict],
                 checkpoint: Optional[str] = None,
                 device: Union[str, torch.device, None] = None,
                 visible_thr: float = PERSON_VISIBLE_THR,
                 min_visible_keypoints: int = PERSON_MIN_KEYPOINTS,
                 keypoint_thr: float = EXTERNAL_KEYPOINT_THR,
                 cfg_options: Optional[dict] = None) -> None:
        if min_visible_keypoints < 1:
            raise ValueError('pose_estimator.min_visible_keypoints must be '
                             f'>= 1, got {min_visible_keypoints}')
        if isinstance(config, str) and not osp.isfile(config):
            raise FileNotFoundError(
                f'pose_estimator.config: file not found: {config}')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'pose_estimator.checkpoint: file not found: {checkpoint}')
        if isinstance(config, dict) and not isinstance(config, Config):
            config = Config(dict(config))
        self.visible_thr = float(visible_thr)
        self.min_visible_keypoints = int(min_visible_keypoints)
        self.keypoint_thr = float(keypoint_thr)
        self.device = torch.device(device or 'cpu')
        # mmpose loads through mmengine: weights_only, with the project's
        # clear refusals (UnsafeCheckpointError, CheckpointReadError)
        with DefaultScope.overwrite_default_scope('mmpose'), \
                safe_checkpoint_loading():
            from mmpose.apis import init_model
            self.model = init_model(
                config,
                checkpoint,
                device=str(self.device),
                cfg_options=cfg_options)
        self.model.eval()
        num_keypoints = self.model.dataset_meta.get('num_keypoints', None)
        if num_keypoints is not None and num_keypoints != NUM_KEYPOINTS:
            raise ValueError(
                f'pose_estimator.config predicts {num_keypoints} keypoints; '
                f'PoseSOR uses the {NUM_KEYPOINTS} COCO keypoints')

    def is_person(self, keypoint_scores: torch.Tensor) -> torch.Tensor:
        """Apply the person rule.

        Args:
            keypoint_scores (Tensor): PoseSOR keypoint visibility scores,
                shape (n, 17).

        Returns:
            Tensor: Bool mask of the persons, shape (n, ).
        """
        visible = (keypoint_scores >= self.visible_thr).sum(dim=-1)
        return visible >= self.min_visible_keypoints

    def estimate(self, image: ImageType,
                 bboxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Run the mmpose model on boxes of one image.

        Args:
            image (str | np.ndarray): Image path or BGR image (H, W, 3).
            bboxes (np.ndarray): Boxes (m, 4), xyxy, image pixels.

        Returns:
            tuple[np.ndarray, np.ndarray]: Keypoints (m, 17, 2) in image
            pixels and their scores (m, 17).
        """
        if len(bboxes) == 0:
            return (np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
                    np.zeros((0, NUM_KEYPOINTS), np.float32))
        with DefaultScope.overwrite_default_scope('mmpose'):
            from mmpose.apis import inference_topdown
            samples = inference_topdown(
                self.model,
                image,
                np.asarray(bboxes, dtype=np.float32),
                bbox_format='xyxy')
        keypoints = np.concatenate(
            [s.pred_instances.keypoints for s in samples]).astype(np.float32)
        scores = np.concatenate([
            s.pred_instances.keypoint_scores for s in samples
        ]).astype(np.float32)
        return keypoints, scores

    def refine_instances(self, image: ImageType,
                         pred_instances: InstanceData) -> InstanceData:
        """Replace the keypoints of the persons among ``pred_instances``.

        Args:
            image (str | np.ndarray): The original image (path or BGR array)
                the boxes refer to.
            pred_instances (InstanceData): PoseSOR predictions with
                ``bboxes`` (n, 4), ``keypoints`` (n, 17, 2) and
                ``keypoint_scores`` (n, 17), original-image pixels.

        Returns:
            InstanceData: The same object, with ``keypoints`` and
            ``keypoint_scores`` of persons replaced and the new field
            ``keypoint_source`` (list of n str: ``'mmpose'`` or
            ``'posesor'``).
        """
        for key in ('bboxes', 'keypoints', 'keypoint_scores'):
            if key not in pred_instances:
                raise KeyError(f'pred_instances has no `{key}`; the pose '
                               'estimator needs boxes and keypoint scores')
        num = len(pred_instances)
        source = [SOURCE_POSESOR] * num
        if num > 0:
            bboxes = pred_instances.bboxes.detach().float().cpu()
            wh = bboxes[:, 2:] - bboxes[:, :2]
            valid = (wh >= MIN_BOX_SIZE).all(dim=-1)
            person = self.is_person(
                pred_instances.keypoint_scores.detach().cpu()) & valid
            index = torch.nonzero(person).flatten()
            if len(index) > 0:
                keypoints, scores = self.estimate(image, bboxes[index].numpy())
                new_kpts = pred_instances.keypoints.clone()
                new_scores = pred_instances.keypoint_scores.clone()
                new_kpts[index] = torch.from_numpy(keypoints).to(new_kpts)
                new_scores[index] = torch.from_numpy(scores).to(new_scores)
                pred_instances.keypoints = new_kpts
                pred_instances.keypoint_scores = new_scores
                for i in index.tolist():
                    source[i] = SOURCE_MMPOSE
        pred_instances.keypoint_source = source
        return pred_instances

    def refine_data_samples(
        self,
        data_samples: Sequence[DetDataSample],
        images: Optional[Sequence[ImageType]] = None
    ) -> Sequence[DetDataSample]:
        """Refine the ``pred_instances`` of a batch of predictions.

        Args:
            data_samples (Sequence[DetDataSample]): Predictions of PoseSOR.
            images (Sequence[str | np.ndarray], optional): The original
                images; by default each sample's ``img_path`` metainfo.

        Returns:
            Sequence[DetDataSample]: ``data_samples``, refined in place.
        """
        if images is None:
            images = []
            for sample in data_samples:
                img_path = sample.metainfo.get('img_path', None)
                if img_path is None:
                    raise ValueError(
                        'the pose estimator needs the original image: '
                        'data sample has no `img_path` metainfo (id '
                        f'{sample.metainfo.get("img_id", "?")})')
                # the boxes refer to the stored pixels (no EXIF rotation)
                images.append(
                    mmcv.imread(img_path, flag='color_ignore_orientation'))
        if len(images) != len(data_samples):
            raise ValueError(f'{len(images)} images for '
                             f'{len(data_samples)} data samples')
        for image, sample in zip(images, data_samples):
            self.refine_instances(image, sample.pred_instances)
        return data_samples

    __call__ = refine_data_samples


def external_pose_instances(pred_instances: InstanceData,
                            keypoint_thr: float) -> InstanceData:
    """The mmpose poses of refined predictions, as pose instances.

    Args:
        pred_instances (InstanceData): Predictions refined by
            :meth:`TopdownPoseRefiner.refine_instances` (``query_indices``,
            ``keypoints`` (n, K, 2), ``keypoint_scores`` (n, K)).
        keypoint_thr (float): Joints scored at or above this are visible.

    Returns:
        InstanceData: ``query_indices`` (m,), ``keypoints`` (m, K, 2) and
        ``keypoints_visible`` (m, K) of the m instances with mmpose poses
        (see :mod:`posesor.models.task_modules.pose_keypoints`).
    """
    index = torch.tensor([
        i for i, source in enumerate(keypoint_sources(pred_instances))
        if source == SOURCE_MMPOSE
    ],
                         dtype=torch.long)
    scores = pred_instances.keypoint_scores.detach().cpu()[index]
    return InstanceData(
        query_indices=pred_instances.query_indices.detach().cpu()[index],
        keypoints=pred_instances.keypoints.detach().cpu()[index],
        keypoints_visible=(scores >= keypoint_thr).float())


def _copy_keypoints(source: InstanceData, target: InstanceData) -> None:
    """Give ``target``'s instances the keypoints, scores and keypoint
    sources of ``source``'s instances with the same query index."""
    where = {int(q): i for i, q in enumerate(source.query_indices.tolist())}
    rows = [where[int(q)] for q in target.query_indices.tolist()]
    index = torch.tensor(rows, dtype=torch.long)
    for key in ('keypoints', 'keypoint_scores'):
        value = source.get(key)
        target.set_field(value[index.to(value.device)], key)
    sources = keypoint_sources(source)
    target.keypoint_source = [sources[i] for i in rows]


def rank_with_pose_estimator(
        model: torch.nn.Module,
        data: dict,
        refiner: TopdownPoseRefiner,
        images: Optional[Sequence[ImageType]] = None) -> List[DetDataSample]:
    """Predict a batch with mmpose poses (and rank from them if asked).

    Runs ``model.test_step`` and the refiner. When the model's
    ``rank_head.test_pose_source`` is 'external', the persons' mmpose
    poses are attached to the batch's samples as ``pose_instances`` and the
    batch is predicted again, so that PDR ranks from them (module
    docstring); the second pass's persons keep the mmpose keypoints.

    Args:
        model (nn.Module): A PoseSOR model (possibly wrapped).
        data (dict): A collated batch (``inputs``, ``data_samples``).
        refiner (TopdownPoseRefiner): The mmpose refiner.
        images (Sequence[str | np.ndarray], optional): The original images
            (default: each sample's ``img_path``).

    Returns:
        list[DetDataSample]: The predictions (metainfo ``pose_source``
        says which poses ranked each image).
    """
    outputs = model.test_step(data)
    refiner.refine_data_samples(outputs, images)
    head = getattr(getattr(model, 'module', model), 'rank_head', None)
    if getattr(head, 'test_pose_source', None) != POSE_SOURCE_EXTERNAL:
        return outputs
    first = [sample.pred_instances for sample in outputs]
    for sample, pred in zip(data['data_samples'], first):
        sample.pose_instances = external_pose_instances(
            pred, refiner.keypoint_thr)
    outputs = model.test_step(data)
    for sample, pred, given in zip(outputs, first, data['data_samples']):
        _copy_keypoints(pred, sample.pred_instances)
        del given.pose_instances
        if 'pose_instances' in sample:
            del sample.pose_instances
    return outputs


def build_pose_refiner(
    cfg: Union[dict, ConfigDict, None],
    device: Union[str, torch.device,
                  None] = None) -> Optional[TopdownPoseRefiner]:
    """Build a :class:`TopdownPoseRefiner` from a ``pose_estimator`` dict.

    Args:
        cfg (dict, optional): ``pose_estimator`` config (see the module
            docstring); ``None`` or an empty dict gives ``None``.
        device (str | torch.device, optional): Device used when the config
            does not name one.

    Returns:
        TopdownPoseRefiner | None: The refiner, or ``None`` if not
        configured.
    """
    if not cfg:
        return None
    cfg = dict(cfg)
    cfg.setdefault('type', 'TopdownPoseRefiner')
    if cfg.get('device', None) is None:
        cfg['device'] = device
    if cfg.get('config', None) is None:
        raise KeyError('pose_estimator.config is required (an mmpose '
                       'top-down config file)')
    with DefaultScope.overwrite_default_scope('mmdet'):
        return TASK_UTILS.build(cfg)


def keypoint_sources(pred_instances: InstanceData) -> List[str]:
    """Where each instance's keypoints come from.

    Args:
        pred_instances (InstanceData): Predictions (n instances).

    Returns:
        list[str]: ``pred_instances.keypoint_source`` when set, else
        ``'posesor'`` for all n instances.
    """
    if 'keypoint_source' in pred_instances:
        return list(pred_instances.keypoint_source)
    return [SOURCE_POSESOR] * len(pred_instances)
