# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Inference API for PoseSOR, an mmengine ``BaseInferencer``.

Example::

    from posesor.apis import SORInferencer

    inferencer = SORInferencer('configs/posesor_swinl_assr.py',
                               'posesor_assr.pth', device='cuda:0')
    out = inferencer('demo/', out_dir='outputs/')
    for pred in out['predictions']:           # one dict per image
        print(pred['img_path'], pred['ranks'], pred['rank_scores'])
    print(out['failed'])                      # [(input, reason), ...]

The steps are mmengine's: :meth:`~SORInferencer.preprocess` (read and
transform, unreadable inputs are named and skipped),
:meth:`~SORInferencer.forward` (PoseSOR, then optional mmpose keypoints),
:meth:`~SORInferencer.visualize` (rank-coloured overlays) and
:meth:`~SORInferencer.postprocess` (plain dicts, RLE JSON files).
"""
import copy
import logging
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.fileio import dump, get, isdir, join_path, list_dir_or_file
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.utils import ProgressBar
from mmengine.visualization import Visualizer
from pycocotools import mask as mask_utils

from ..models.heads.pose_source import POSE_SOURCE_GT, POSE_SOURCE_PREDICTED
from ..utils.checkpoint import (check_state_dict, safe_checkpoint_loading,
                                state_dict_of)
from ..utils.config import check_cfg_options, load_config
from .pose_estimator import (build_pose_refiner, keypoint_sources,
                             rank_with_pose_estimator)
from .test_loop import set_test_pose_source

#: File extensions taken from a folder input.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]
ConfigType = Union[Config, ConfigDict]

#: Read the stored pixels without EXIF rotation, as the dataset pipelines
#: (and the reference) do, so a file gives the same prediction here as in
#: ``tools/test.py``.
IMREAD_FLAG = 'color_ignore_orientation'

#: ``dataset_meta`` of a model whose checkpoint has none.
DEFAULT_DATASET_META = dict(classes=('object', ))


def _is_annotation_loader(transform: dict) -> bool:
    """Whether a test-pipeline transform loads ground truth."""
    name = str(transform.get('type', ''))
    return 'Annotation' in name.split('.')[-1]


def list_inputs(inputs: InputsType,
                backend_args: Optional[dict] = None) -> List[InputType]:
    """Expand an image path, an array, a list of them, or a folder.

    Args:
        inputs (str | np.ndarray | Sequence): Inputs. A folder gives its
            image files (sorted, by :data:`IMG_EXTENSIONS`, not recursive).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        list[str | np.ndarray]: One entry per image.
    """
    if isinstance(inputs, (str, os.PathLike)):
        path = os.fspath(inputs)
        if isdir(path, backend_args=backend_args):
            names = list_dir_or_file(
                path,
                list_dir=False,
                suffix=IMG_EXTENSIONS,
                backend_args=backend_args)
            return [
                join_path(path, name, backend_args=backend_args)
                for name in sorted(names)
            ]
        return [path]
    if isinstance(inputs, np.ndarray):
        return [inputs]
    return [os.fspath(x) if isinstance(x, os.PathLike) else x for x in inputs]


def output_stems(items: Sequence[InputType]) -> List[str]:
    """A distinct output file stem for every input.

    ``a.jpg`` gives ``a``; inputs whose stems collide (``a.jpg`` and
    ``a.png``) keep their extension (``a_jpg``, ``a_png``), and any that
    still collide (the same name in two folders) get their input index.

    Args:
        items (Sequence[str | np.ndarray]): The inputs, in order.

    Returns:
        list[str]: One stem per input, all different.
    """
    names = [
        osp.basename(item) if isinstance(item, str) else f'array_{i:06d}.png'
        for i, item in enumerate(items)
    ]
    stems = [osp.splitext(name)[0] for name in names]
    counts: Dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    stems = [
        stem if counts[stem] == 1 else name.replace('.', '_')
        for stem, name in zip(stems, names)
    ]
    counts = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    return [
        stem if counts[stem] == 1 else f'{stem}_{i:06d}'
        for i, stem in enumerate(stems)
    ]


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
        (list[str]), ``masks`` (bool array (n, H, W)) and ``pose_source``
        (the poses that ranked the image: 'predicted', 'gt' or
        'external').
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
        masks=masks,
        pose_source=sample.metainfo.get('pose_source', POSE_SOURCE_PREDICTED))


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


class SORInferencer(BaseInferencer):
    """Run a PoseSOR model on images, with optional mmpose poses.

    Args:
        model (str | Config): Config file path or loaded config.
        weights (str, optional): Checkpoint. ``None`` keeps the initial
            weights (tests only).
        device (str, optional): ``'cpu'``, ``'cuda:0'`` ... Defaults to
            CUDA when available, else CPU.
        scope (str): Registry scope. Defaults to ``'mmdet'``.
        pose_estimator (dict, optional): Config of a
            :class:`~posesor.apis.TopdownPoseRefiner`. Defaults to the
            config's top-level ``pose_estimator`` (if any).
        pose_source (str, optional): Poses PDR ranks from: 'predicted'
            (PAI's) or 'external' (those of ``pose_estimator``, ranked
            again; see :func:`~posesor.apis.rank_with_pose_estimator`).
            Images carry no annotations here, so 'gt' is refused. Defaults
            to the config's ``model.rank_head.test_pose_source``.
        cfg_options (dict, optional): Overrides of the config.
        allow_partial (bool): Run with a checkpoint whose weights do not
            cover the model or do not fit it (warning instead of error).
            Defaults to False.
        backend_args (dict, optional): mmengine file backend arguments for
            reading the inputs and writing the outputs.
        show_progress (bool): Show a progress bar. Defaults to True.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    visualize_kwargs: set = {
        'return_vis', 'show', 'wait_time', 'draw_pred', 'img_out_dir',
        'no_save_vis'
    }
    postprocess_kwargs: set = {'print_result', 'pred_out_dir', 'no_save_pred'}

    def __init__(self,
                 model: Union[str, Config],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: str = 'mmdet',
                 pose_estimator: Optional[dict] = None,
                 pose_source: Optional[str] = None,
                 cfg_options: Optional[dict] = None,
                 allow_partial: bool = False,
                 backend_args: Optional[dict] = None,
                 show_progress: bool = True) -> None:
        import posesor  # noqa: F401  (registers modules)
        cfg = load_config(model) if isinstance(model, str) else \
            copy.deepcopy(model)
        if cfg_options:
            check_cfg_options(cfg, cfg_options)
            cfg.merge_from_dict(cfg_options)
        if pose_estimator is None:
            pose_estimator = cfg.get('pose_estimator', None)
        set_test_pose_source(cfg, pose_source, bool(pose_estimator))
        if cfg.model.rank_head.get('test_pose_source') == POSE_SOURCE_GT:
            raise ValueError('pose_source "gt" needs annotated test data '
                             '(tools/test.py --pose-source gt); the '
                             'inferencer reads bare images')
        if device is None:
            device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
        self.allow_partial = allow_partial
        self.backend_args = backend_args
        self.weights = weights
        self.failed: List[Tuple[str, str]] = []
        with DefaultScope.overwrite_default_scope(scope), \
                safe_checkpoint_loading():
            super().__init__(
                cfg, weights, device, scope, show_progress=show_progress)
        self.device = torch.device(device)
        self.pose_refiner = build_pose_refiner(
            pose_estimator, device=self.device)

    # -- construction -----------------------------------------------------

    def _load_weights_to_model(self, model: torch.nn.Module,
                               checkpoint: Optional[dict],
                               cfg: Optional[ConfigType]) -> None:
        """Load the weights (refusing partial ones) and ``dataset_meta``."""
        dataset_meta = None
        if checkpoint is not None:
            state_dict = state_dict_of(checkpoint)
            check_state_dict(
                model,
                state_dict,
                source=self.weights,
                allow_partial=self.allow_partial)
            _load_checkpoint_to_model(model, checkpoint)
            dataset_meta = checkpoint.get('meta', {}).get('dataset_meta')
        model.dataset_meta = dataset_meta or dict(DEFAULT_DATASET_META)

    def _init_pipeline(self, cfg: ConfigType) -> Compose:
        """Test pipeline from decoded images, without annotation loading."""
        pipeline = [
            t.copy() for t in cfg.test_dataloader.dataset.pipeline
            if not _is_annotation_loader(t)
        ]
        if not pipeline or 'LoadImage' not in str(pipeline[0]['type']):
            raise ValueError('test_dataloader.dataset.pipeline must start '
                             'with an image loader (LoadImageFromFile)')
        self.color_type = pipeline[0].get('color_type', IMREAD_FLAG)
        pipeline[0] = dict(type='mmdet.LoadImageFromNDArray')
        return Compose(pipeline)

    def _init_visualizer(self, cfg: ConfigType) -> Optional[Visualizer]:
        """Build the config's visualizer (no backends, unique name)."""
        if 'visualizer' not in cfg:
            return None
        vis_cfg = ConfigDict(copy.deepcopy(cfg.visualizer))
        vis_cfg.name = f'sor_inferencer-{vis_cfg.get("name", "vis")}-' \
            f'{id(self)}'
        vis_cfg.vis_backends = None
        vis_cfg.save_dir = None
        visualizer = super()._init_visualizer(ConfigDict(visualizer=vis_cfg))
        visualizer.dataset_meta = self.model.dataset_meta
        return visualizer

    # -- the four steps ---------------------------------------------------

    def read(self, item: InputType) -> np.ndarray:
        """Read one input to a BGR uint8 image.

        Args:
            item (str | np.ndarray): A path (any mmengine backend) or an
                (H, W, 3) BGR array.

        Returns:
            np.ndarray: The image.

        Raises:
            IOError: If the input cannot be read or decoded.
        """
        if isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3:
                raise IOError(f'array input of shape {item.shape} is not an '
                              '(H, W, 3) BGR image')
            return item
        try:
            data = get(item, backend_args=self.backend_args)
        except Exception as err:  # backends raise many different types
            raise IOError(f'cannot read {item}: {err}') from err
        if not data:
            raise IOError(f'cannot decode image {item}: the file is empty')
        try:
            img = mmcv.imfrombytes(data, flag=self.color_type)
        except Exception as err:  # decoders raise many different types
            raise IOError(f'cannot decode image {item}: {err}') from err
        if img is None or img.size == 0:
            raise IOError(f'cannot decode image {item}')
        return img

    def preprocess(self,
                   inputs: List[InputType],
                   batch_size: int = 1,
                   names: Optional[List[str]] = None,
                   **kwargs) -> Iterator[Tuple[List[tuple], dict]]:
        """Read, transform and batch the inputs; skip unreadable ones.

        Args:
            inputs (list[str | np.ndarray]): Inputs, see :func:`list_inputs`.
            batch_size (int): Images per batch.
            names (list[str], optional): Output stems of the inputs.

        Yields:
            tuple: ``(items, data)``: per image ``(index, name, image)``
            and the collated model input.
        """
        if names is None:
            names = output_stems(inputs)
        chunk: List[tuple] = []
        for index, item in enumerate(inputs):
            label = item if isinstance(item, str) else f'array {index}'
            try:
                image = self.read(item)
            except IOError as err:
                self.failed.append((osp.basename(label), str(err)))
                print_log(
                    f'skipping unreadable input {label}: {err}',
                    logger='current',
                    level=logging.WARNING)
                continue
            chunk.append((index, names[index], image,
                          item if isinstance(item, str) else None))
            if len(chunk) == batch_size:
                yield self._collate(chunk)
                chunk = []
        if chunk:
            yield self._collate(chunk)

    def _collate(self, chunk: List[tuple]) -> Tuple[List[tuple], dict]:
        """Run the pipeline on a chunk of decoded images and collate it."""
        data = []
        with DefaultScope.overwrite_default_scope(self.scope):
            for index, _, image, path in chunk:
                result = self.pipeline(dict(img=image, img_id=index))
                result['data_samples'].set_metainfo(dict(img_path=path))
                data.append(result)
        return [c[:3] for c in chunk], self.collate_fn(data)

    @torch.no_grad()
    def forward(self, inputs: dict,
                images: Sequence[np.ndarray]) -> List[DetDataSample]:
        """Predict one batch (and mmpose keypoints for persons).

        Args:
            inputs (dict): Collated batch from :meth:`preprocess`.
            images (Sequence[np.ndarray]): Its BGR images (for mmpose).

        Returns:
            list[DetDataSample]: The predictions.
        """
        with DefaultScope.overwrite_default_scope(self.scope):
            if self.pose_refiner is None:
                return self.model.test_step(inputs)
            return rank_with_pose_estimator(self.model, inputs,
                                            self.pose_refiner, list(images))

    def visualize(self,
                  inputs: Sequence[Tuple[int, str, np.ndarray]],
                  preds: Sequence[DetDataSample],
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0,
                  draw_pred: bool = True,
                  img_out_dir: str = '',
                  no_save_vis: bool = False,
                  **kwargs) -> Optional[List[np.ndarray]]:
        """Draw rank-coloured overlays (masks, rank numbers, skeletons).

        Args:
            inputs (Sequence[tuple]): ``(index, name, image)`` per image.
            preds (Sequence[DetDataSample]): Their predictions.
            return_vis (bool): Return the overlays (RGB arrays).
            show (bool): Show them in a window.
            wait_time (float): Seconds each is shown.
            draw_pred (bool): Draw the predictions.
            img_out_dir (str): Folder for ``<name>.png`` overlays.
            no_save_vis (bool): Do not write overlays.

        Returns:
            list[np.ndarray] | None: The overlays when ``return_vis``.
        """
        if no_save_vis:
            img_out_dir = ''
        if self.visualizer is None or not (return_vis or show or img_out_dir):
            return None
        results = []
        for (_, name, image), pred in zip(inputs, preds):
            out_file = osp.join(img_out_dir, f'{name}.png') \
                if img_out_dir else None
            self.visualizer.add_datasample(
                name,
                mmcv.bgr2rgb(image),
                data_sample=pred,
                draw_gt=False,
                draw_pred=draw_pred,
                show=show,
                wait_time=wait_time,
                out_file=out_file)
            results.append(self.visualizer.get_image())
        return results if return_vis else None

    def postprocess(self,
                    preds: Sequence[DetDataSample],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasamples: bool = False,
                    print_result: bool = False,
                    pred_out_dir: str = '',
                    no_save_pred: bool = False,
                    names: Optional[Sequence[str]] = None,
                    **kwargs) -> Dict[str, list]:
        """Convert predictions to dicts and write ``<name>.json`` files.

        Args:
            preds (Sequence[DetDataSample]): Predictions.
            visualization (list[np.ndarray], optional): Overlays.
            return_datasamples (bool): Return ``DetDataSample`` objects.
            print_result (bool): Print each result dict.
            pred_out_dir (str): Folder for ``<name>.json`` (RLE masks,
                ranks, scores, keypoints, boxes).
            no_save_pred (bool): Do not write JSON files.
            names (Sequence[str], optional): Output stems.

        Returns:
            dict: ``predictions`` and ``visualization`` (lists).
        """
        predictions = []
        for i, sample in enumerate(preds):
            pred = instances_to_dict(sample)
            if pred_out_dir and not no_save_pred:
                name = names[i] if names else f'{i:06d}'
                dump(
                    prediction_to_json(pred),
                    join_path(
                        pred_out_dir,
                        f'{name}.json',
                        backend_args=self.backend_args),
                    file_format='json',
                    backend_args=self.backend_args)
            if print_result:
                print_log(
                    str(prediction_to_json(pred)),
                    logger='current',
                    level=logging.INFO)
            predictions.append(sample if return_datasamples else pred)
        return dict(
            predictions=predictions, visualization=list(visualization or []))

    # -- the call ---------------------------------------------------------

    def __call__(self,
                 inputs: InputsType,
                 batch_size: int = 1,
                 out_dir: Optional[str] = None,
                 draw: bool = True,
                 return_vis: bool = False,
                 return_datasamples: bool = False,
                 pred_out_dir: Optional[str] = None,
                 no_save_vis: bool = False,
                 no_save_pred: bool = False,
                 **kwargs) -> Dict[str, list]:
        """Run on one image, a list of images, or a folder.

        Unreadable inputs are reported (by name), counted and skipped.

        Args:
            inputs (str | np.ndarray | Sequence): Image path(s), BGR
                array(s), or a folder.
            batch_size (int): Images per forward pass (>= 1).
            out_dir (str, optional): If set, writes ``<name>.png`` (overlay)
                and ``<name>.json`` per image (names made distinct, see
                :func:`output_stems`).
            draw (bool): Draw overlays. Defaults to True.
            return_vis (bool): Return the overlays (RGB arrays).
            return_datasamples (bool): Return ``DetDataSample`` instead of
                dicts as ``predictions``.
            pred_out_dir (str, optional): Folder for the JSON files
                (defaults to ``out_dir``).
            no_save_vis (bool): Do not write overlays.
            no_save_pred (bool): Do not write JSON files.
            **kwargs: ``show``, ``wait_time`` (see :meth:`visualize`) and
                ``print_result`` (see :meth:`postprocess`).

        Returns:
            dict: ``predictions`` (one per readable input, in input order,
            see :func:`instances_to_dict`), ``visualization`` (overlays or
            empty), ``failed`` (list of ``(input name, reason)``).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
                or batch_size < 1:
            raise ValueError(
                f'batch_size must be an integer >= 1, got {batch_size!r}')
        items = list_inputs(inputs, self.backend_args)
        names = output_stems(items)
        renamed = [
            f'{item} -> {name}' for item, name in zip(items, names)
            if isinstance(item, str)
            and name != osp.splitext(osp.basename(item))[0]
        ]
        if renamed and (out_dir or pred_out_dir):
            print_log(
                'inputs with the same file name get distinct outputs: ' +
                ', '.join(renamed),
                logger='current',
                level=logging.WARNING)
        img_out_dir = out_dir if (out_dir and draw) else ''
        pred_out_dir = pred_out_dir if pred_out_dir is not None else \
            (out_dir or '')
        vis_kwargs = {
            k: v
            for k, v in kwargs.items() if k in ('show', 'wait_time')
        }
        post_kwargs = {
            k: v
            for k, v in kwargs.items() if k in ('print_result', )
        }
        unknown = set(kwargs) - set(vis_kwargs) - set(post_kwargs)
        if unknown:
            raise TypeError(f'unknown arguments: {sorted(unknown)}')

        self.failed = []
        results: Dict[str, list] = dict(predictions=[], visualization=[])
        progress = ProgressBar(len(items)) \
            if self.show_progress and len(items) > 1 else None
        for chunk, data in self.preprocess(items, batch_size, names=names):
            preds = self.forward(data, [image for _, _, image in chunk])
            vis = self.visualize(
                chunk,
                preds,
                return_vis=return_vis,
                draw_pred=draw,
                img_out_dir=img_out_dir,
                no_save_vis=no_save_vis or not draw,
                **vis_kwargs)
            out = self.postprocess(
                preds,
                vis,
                return_datasamples=return_datasamples,
                pred_out_dir=pred_out_dir,
                no_save_pred=no_save_pred,
                names=[name for _, name, _ in chunk],
                **post_kwargs)
            results['predictions'] += out['predictions']
            results['visualization'] += out['visualization']
            if progress is not None:
                for _ in chunk:
                    progress.update()
        results['failed'] = list(self.failed)
        if self.failed:
            print_log(
                f'{len(self.failed)} of {len(items)} inputs could not be '
                'read and were skipped: ' +
                ', '.join(name for name, _ in self.failed),
                logger='current',
                level=logging.WARNING)
        return results
