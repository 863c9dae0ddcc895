# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Inference API for PoseSOR (in the spirit of mmdet's ``DetInferencer``).

Example::

    from posesor.apis import SORInferencer

    inferencer = SORInferencer('configs/posesor_swinl_assr.py',
                               'posesor_assr.pth', device='cuda:0')
    out = inferencer('demo/', out_dir='outputs/')
    for pred in out['predictions']:           # one dict per image
        print(pred['img_path'], pred['ranks'], pred['rank_scores'])
    print(out['failed'])                      # [(input, reason), ...]
"""
import json
import logging
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.registry import MODELS, VISUALIZERS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar
from mmengine.visualization import Visualizer
from pycocotools import mask as mask_utils

from .pose_estimator import build_pose_refiner, keypoint_sources

#: File extensions taken from a folder input.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]

#: Read the stored pixels without EXIF rotation, as the dataset pipelines
#: (and the reference) do, so a file gives the same prediction here as in
#: ``tools/test.py``.
IMREAD_FLAG = 'color_ignore_orientation'


def _is_annotation_loader(transform: dict) -> bool:
    """Whether a test-pipeline transform loads ground truth."""
    name = str(transform.get('type', ''))
    return 'Annotation' in name.split('.')[-1]


def list_inputs(inputs: InputsType) -> List[InputType]:
    """Expand an image path, an array, a list of them, or a folder.

    Args:
        inputs (str | np.ndarray | Sequence): Inputs. A folder gives its
            image files (sorted, by :data:`IMG_EXTENSIONS`, not recursive).

    Returns:
        list[str | np.ndarray]: One entry per image.
    """
    if isinstance(inputs, (str, os.PathLike)):
        path = os.fspath(inputs)
        if osp.isdir(path):
            return [
                osp.join(path, name) for name in sorted(os.listdir(path))
                if name.lower().endswith(IMG_EXTENSIONS)
                and osp.isfile(osp.join(path, name))
            ]
        return [path]
    if isinstance(inputs, np.ndarray):
        return [inputs]
    return [os.fspath(x) if isinstance(x, os.PathLike) else x for x in inputs]


def instances_to_dict(sample: DetDataSample) -> Dict[str, Any]:
    """Convert one prediction to plain Python/numpy, sorted by rank.

    Args:
        sample (DetDataSample): A PoseSOR prediction.

    Returns:
        dict: ``img_path``, ``height``, ``width`` and, one entry per
        instance (most salient first): ``ranks`` (list[int]),
        ``rank_scores``, ``scores`` (list[float]), ``bboxes``
        (list of xyxy), ``keypoints`` (list of 17 x [x, y]),
        ``keypoint_scores`` (list of 17 floats), ``keypoint_source``
        (list[str]) and ``masks`` (bool array (n, H, W)).
    """
    pred = sample.pred_instances
    num = len(pred)
    height, width = sample.metainfo['ori_shape'][:2]
    order = list(range(num))
    if 'ranks' in pred and num > 0:
        ranks = torch.as_tensor(pred.ranks).cpu()
        order = torch.argsort(ranks, stable=True).tolist()

    def take(key: str, default_shape: Tuple[int, ...]) -> np.ndarray:
        if key not in pred:
            return np.zeros((num, ) + default_shape, np.float32)
        value = pred[key]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        return np.asarray(value)[order] if num > 0 else np.asarray(value)

    masks = take('masks', (height, width)).astype(bool)
    ranks = take('ranks', ()) if 'ranks' in pred else np.arange(1, num + 1)
    sources = keypoint_sources(pred)
    return dict(
        img_path=sample.metainfo.get('img_path', None),
        height=int(height),
        width=int(width),
        ranks=[int(r) for r in ranks],
        rank_scores=take('rank_scores', ()).astype(float).tolist(),
        scores=take('scores', ()).astype(float).tolist(),
        bboxes=take('bboxes', (4, )).astype(float).tolist(),
        keypoints=take('keypoints', (17, 2)).astype(float).tolist(),
        keypoint_scores=take('keypoint_scores', (17, )).astype(float).tolist(),
        keypoint_source=[sources[i] for i in order],
        masks=masks)


def prediction_to_json(pred: Dict[str, Any]) -> Dict[str, Any]:
    """Make an :func:`instances_to_dict` result JSON-serialisable.

    Masks become COCO compressed RLE (``{'size': [H, W], 'counts': str}``).

    Args:
        pred (dict): Output of :func:`instances_to_dict`.

    Returns:
        dict: The same content with RLE masks.
    """
    out = {k: v for k, v in pred.items() if k != 'masks'}
    rles = []
    for mask in pred['masks']:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        rles.append(rle)
    out['masks'] = rles
    return out


class SORInferencer:
    """Run a PoseSOR model on images, with optional mmpose poses.

    Args:
        model (str | Config): Config file path or loaded config.
        weights (str, optional): Local checkpoint. ``None`` keeps the
            initial weights (tests only).
        device (str, optional): ``'cpu'``, ``'cuda:0'`` ... Defaults to
            CUDA when available, else CPU.
        pose_estimator (dict, optional): Config of a
            :class:`~posesor.apis.TopdownPoseRefiner`. Defaults to the
            config's top-level ``pose_estimator`` (if any).
        cfg_options (dict, optional): Overrides of the config.
        show_progress (bool): Show a progress bar. Defaults to True.
    """

    def __init__(self,
                 model: Union[str, Config],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 pose_estimator: Optional[dict] = None,
                 cfg_options: Optional[dict] = None,
                 show_progress: bool = True) -> None:
        import posesor  # noqa: F401  (registers modules; safe checkpoints)
        cfg = Config.fromfile(model) if isinstance(model, str) else \
            model.copy()
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.cfg = cfg
        self.scope = cfg.get('default_scope', 'mmdet') or 'mmdet'
        if device is None:
            device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
        self.device = torch.device(device)
        self.show_progress = show_progress
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint not found: {weights}')

        with DefaultScope.overwrite_default_scope(self.scope):
            self.model = self._init_model(cfg, weights)
            self.pipeline = self._init_pipeline(cfg)
            self.visualizer = self._init_visualizer(cfg)
        if pose_estimator is None:
            pose_estimator = cfg.get('pose_estimator', None)
        self.pose_refiner = build_pose_refiner(
            pose_estimator, device=self.device)

    def _init_model(self, cfg: Config,
                    weights: Optional[str]) -> torch.nn.Module:
        """Build the detector and load its weights."""
        model_cfg = cfg.model.copy()
        model = MODELS.build(model_cfg)
        model.cfg = cfg
        dataset_meta = None
        if weights is not None:
            checkpoint = load_checkpoint(model, weights, map_location='cpu')
            dataset_meta = checkpoint.get('meta', {}).get('dataset_meta')
        if dataset_meta is None:
            dataset_meta = dict(classes=('object', ))
        model.dataset_meta = dataset_meta
        return model.to(self.device).eval()

    def _init_pipeline(self, cfg: Config) -> Compose:
        """Test pipeline with an image loader that accepts arrays."""
        pipeline = [
            t.copy() for t in cfg.test_dataloader.dataset.pipeline
            if not _is_annotation_loader(t)
        ]
        if not pipeline or 'LoadImage' not in str(pipeline[0]['type']):
            raise ValueError('test_dataloader.dataset.pipeline must start '
                             'with an image loader (LoadImageFromFile)')
        pipeline[0] = dict(type='mmdet.LoadImageFromNDArray')
        return Compose(pipeline)

    def _init_visualizer(self, cfg: Config) -> Optional[Visualizer]:
        """Build the config's visualizer (no backends, unique name)."""
        if 'visualizer' not in cfg:
            return None
        vis_cfg = ConfigDict(cfg.visualizer.copy())
        name = vis_cfg.get('name', 'visualizer')
        name = f'sor_inferencer-{name}-{id(self)}'
        vis_cfg.name = name
        vis_cfg.vis_backends = None
        vis_cfg.save_dir = None
        visualizer = VISUALIZERS.build(vis_cfg)
        visualizer.dataset_meta = self.model.dataset_meta
        return visualizer

    @staticmethod
    def _read(item: InputType) -> np.ndarray:
        """Read one input to a BGR uint8 image; raise ``IOError`` if bad."""
        if isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3:
                raise IOError(f'array input of shape {item.shape} is not an '
                              '(H, W, 3) BGR image')
            return item
        if not osp.isfile(item):
            raise IOError(f'no such file: {item}')
        try:
            img = mmcv.imread(item, flag=IMREAD_FLAG)
        except Exception as err:  # decoders raise many different types
            raise IOError(f'cannot decode image {item}: {err}') from err
        if img is None or img.size == 0:
            raise IOError(f'cannot decode image {item}')
        return img

    @torch.no_grad()
    def predict_batch(self, images: Sequence[np.ndarray],
                      paths: Sequence[Optional[str]]) -> List[DetDataSample]:
        """Predict a batch of decoded images.

        Args:
            images (Sequence[np.ndarray]): BGR images (H, W, 3).
            paths (Sequence[str | None]): Their paths (for the results).

        Returns:
            list[DetDataSample]: Predictions (mmpose keypoints for persons
            when a pose estimator is configured).
        """
        data = []
        with DefaultScope.overwrite_default_scope(self.scope):
            for i, (img, path) in enumerate(zip(images, paths)):
                item = dict(img=img, img_id=i)
                result = self.pipeline(item)
                result['data_samples'].set_metainfo(dict(img_path=path))
                data.append(result)
            outputs = self.model.test_step(pseudo_collate(data))
        if self.pose_refiner is not None:
            self.pose_refiner.refine_data_samples(outputs, images)
        return outputs

    def draw(self, image: np.ndarray, sample: DetDataSample,
             out_file: Optional[str]) -> Optional[np.ndarray]:
        """Draw the rank-coloured overlay of one prediction.

        Args:
            image (np.ndarray): BGR image (H, W, 3).
            sample (DetDataSample): Its prediction.
            out_file (str, optional): Where to save the overlay.

        Returns:
            np.ndarray | None: The RGB overlay, ``None`` without visualizer.
        """
        if self.visualizer is None:
            return None
        self.visualizer.add_datasample(
            'prediction',
            mmcv.bgr2rgb(image),
            data_sample=sample,
            draw_gt=False,
            show=False,
            out_file=out_file)
        return self.visualizer.get_image()

    def __call__(self,
                 inputs: InputsType,
                 batch_size: int = 1,
                 out_dir: Optional[str] = None,
                 draw: bool = True,
                 return_vis: bool = False,
                 return_datasamples: bool = False) -> Dict[str, list]:
        """Run on one image, a list of images, or a folder.

        Unreadable inputs are reported (by name) and skipped.

        Args:
            inputs (str | np.ndarray | Sequence): Image path(s), BGR
                array(s), or a folder.
            batch_size (int): Images per forward pass. Defaults to 1.
            out_dir (str, optional): If set, writes ``<name>.png``
                (overlay, when ``draw``) and ``<name>.json`` (RLE masks,
                ranks, scores, keypoints, boxes) per image.
            draw (bool): Draw overlays. Defaults to True.
            return_vis (bool): Return the overlays (RGB arrays).
            return_datasamples (bool): Return ``DetDataSample`` instead of
                dicts as ``predictions``.

        Returns:
            dict: ``predictions`` (one per readable input, in input order,
            see :func:`instances_to_dict`), ``visualization`` (overlays or
            empty), ``failed`` (list of ``(input name, reason)``).
        """
        items = list_inputs(inputs)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        results: Dict[str, list] = dict(
            predictions=[], visualization=[], failed=[])
        names = [self._name(item, i) for i, item in enumerate(items)]
        progress = ProgressBar(len(items)) \
            if self.show_progress and len(items) > 1 else None
        for start in range(0, len(items), batch_size):
            chunk = range(start, min(start + batch_size, len(items)))
            images, paths, chunk_names = [], [], []
            for i in chunk:
                try:
                    images.append(self._read(items[i]))
                except IOError as err:
                    results['failed'].append((names[i], str(err)))
                    print_log(
                        f'skipping unreadable input {names[i]}: {err}',
                        logger='current',
                        level=logging.WARNING)
                    continue
                paths.append(items[i] if isinstance(items[i], str) else None)
                chunk_names.append(names[i])
            outputs = self.predict_batch(images, paths) if images else []
            for img, name, sample in zip(images, chunk_names, outputs):
                self._collect(results, img, name, sample, out_dir, draw,
                              return_vis, return_datasamples)
            if progress is not None:
                for _ in chunk:
                    progress.update()
        if results['failed']:
            print_log(
                f'{len(results["failed"])} of {len(items)} inputs could not '
                'be read and were skipped: ' +
                ', '.join(name for name, _ in results['failed']),
                logger='current',
                level=logging.WARNING)
        return results

    def _collect(self, results: Dict[str, list], img: np.ndarray, name: str,
                 sample: DetDataSample, out_dir: Optional[str], draw: bool,
                 return_vis: bool, return_datasamples: bool) -> None:
        """Store (and write) the outputs for one image."""
        stem = osp.splitext(name)[0]
        if draw and (out_dir or return_vis):
            out_file = osp.join(out_dir, f'{stem}.png') if out_dir else None
            vis = self.draw(img, sample, out_file)
            if return_vis:
                results['visualization'].append(vis)
        pred = instances_to_dict(sample)
        if out_dir:
            with open(osp.join(out_dir, f'{stem}.json'), 'w') as f:
                json.dump(prediction_to_json(pred), f)
        results['predictions'].append(sample if return_datasamples else pred)

    @staticmethod
    def _name(item: InputType, index: int) -> str:
        """Name of an input (file name, or ``array_<index>``)."""
        if isinstance(item, str):
            return osp.basename(item)
        return f'array_{index:06d}.png'
