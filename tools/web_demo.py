# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""A local web page to try a PoseSOR model (Gradio).

Examples::

    python tools/web_demo.py CONFIG CHECKPOINT [--device cpu] \\
        [--host 127.0.0.1] [--port 7860] \\
        [--pose-config rtmpose.py --pose-checkpoint rtmpose.pth]
    make web        # the checkpoint `make demo` trained (work_dirs/demo/)

``CHECKPOINT`` may be a work dir: its ``last_checkpoint`` (or newest
``iter_*.pth``) is served. The page takes an uploaded image or one of the
examples (synthetic scenes drawn at start-up, or ``--examples DIR``) and
shows the rank-coloured overlay (the drawing of
:func:`posesor.visualization.draw_sor_overlay`), a table of the ranked
instances, toggles for masks, rank badges, skeletons and the next-target
partition map, sliders for the objectness and mask thresholds (they re-run
the model), and a JSON download. With ``--pose-config`` persons get mmpose
keypoints and a "pose source" choice ranks from PAI's poses ('predicted')
or from the mmpose ones ('external', the ranking recomputed from them; see
:func:`posesor.apis.rank_with_pose_estimator`); the page and the JSON say
which poses ranked the image::

    {"image": NAME, "height": H, "width": W, "thresholds": {...},
     "pose_source": "predicted" | "external",
     "instances": [{"rank": 1, "rank_score": .., "objectness": ..,
                    "person": true, "keypoint_source": "posesor",
                    "bbox": [x1, y1, x2, y2], "keypoints": [[x, y] * 17],
                    "keypoint_scores": [.. * 17],
                    "mask": {"size": [H, W], "counts": "<COCO RLE>"}}, ...]}

instances most salient first. A bad upload (not an image, truncated, too
large) gets a message in the page; the server keeps serving.

The model is built and run through mmdet's public API
(``mmdet.apis.init_detector`` / ``inference_detector``) on the config's test
pipeline, so the page shows exactly what ``tools/test.py`` predicts.
"""
import argparse
import glob
import hashlib
import html
import json
import os
import os.path as osp
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from posesor.apis.pose_estimator import PERSON_MIN_KEYPOINTS  # noqa: E402
from posesor.apis.pose_estimator import PERSON_VISIBLE_THR  # noqa: E402
from posesor.apis.pose_estimator import SOURCE_POSESOR  # noqa: E402
from posesor.models.heads.pose_source import (  # noqa: E402
    POSE_SOURCE_EXTERNAL, POSE_SOURCE_PREDICTED)
from posesor.visualization import draw_sor_overlay, rank_colour  # noqa: E402

# Gradio must not phone home: the demo works offline.
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

#: How the page names the poses that ranked an image.
POSE_SOURCE_LABELS = {
    POSE_SOURCE_PREDICTED: "PoseSOR's own poses (predicted)",
    POSE_SOURCE_EXTERNAL: 'the mmpose poses (external)',
}
#: Uploads larger than this many bytes are refused.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: Images with more pixels than this are refused before decoding.
MAX_PIXELS = 50_000_000
#: Display height of the overlay in the page (CSS pixels; small images
#: are enlarged to it, large ones reduced).
OVERLAY_HEIGHT = 512
#: Overlays of smaller images are drawn on an enlarged copy (pixels).
MIN_DRAW_SIDE = 512
#: File names taken from an --examples folder.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: Synthetic example scenes drawn at start-up when --examples is not given.
NUM_EXAMPLES = 3
EXAMPLE_SIZE = 192


class ImageRejected(ValueError):
    """An upload that cannot be used; the message is shown in the page."""


def read_upload(path: str,
                max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an uploaded file to a BGR image, or explain why not.

    The size limits are checked before decoding (the header gives the
    dimensions), so a decompression bomb costs nothing. EXIF orientation is
    ignored, as in the dataset pipelines.

    Args:
        path (str): The uploaded file.
        max_bytes (int): Largest accepted file size.
        max_pixels (int): Largest accepted width x height.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.

    Raises:
        ImageRejected: With a message naming the file and the problem.
    """
    from PIL import Image, UnidentifiedImageError
    name = osp.basename(path)
    size = osp.getsize(path)
    if size > max_bytes:
        raise ImageRejected(f'{name} is {size / 2**20:.1f} MiB; the limit is '
                            f'{max_bytes / 2**20:.0f} MiB')
    if size == 0:
        raise ImageRejected(f'{name} is empty')
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f'{name} is {width} x {height} pixels '
                    f'({width * height / 1e6:.0f} MP); the limit is '
                    f'{max_pixels / 1e6:.0f} MP')
            img.load()
            rgb = np.asarray(img.convert('RGB'))
    except ImageRejected:
        raise
    except Image.DecompressionBombError as err:  # PIL's own, larger guard
        raise ImageRejected(
            f'{name} is too large: over '
            f'{2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP, which the decoder '
            f'refuses as a possible decompression bomb; the limit is '
            f'{max_pixels / 1e6:.0f} MP') from err
    except UnidentifiedImageError as err:
        raise ImageRejected(f'{name} is not an image this demo can read '
                            f'(JPEG, PNG, BMP, TIFF, WebP...): {err}') from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageRejected(f'{name} is truncated or damaged: {err}') from err
    return np.ascontiguousarray(rgb[..., ::-1])


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or the last checkpoint of a work dir.

    Args:
        path (str): A ``.pth`` file or an mmengine work dir.

    Returns:
        str: The checkpoint file.

    Raises:
        FileNotFoundError: With a hint to run ``make demo``.
    """
    hint = ('; run `make demo` first (it trains one into work_dirs/demo/) '
            'or pass a PoseSOR checkpoint')
    if osp.isdir(path):
        last = osp.join(path, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                name = f.read().strip()
            # the record may hold an absolute path from another machine
            for candidate in (name, osp.join(path, osp.basename(name))):
                if osp.isfile(candidate):
                    return candidate
        found = glob.glob(osp.join(path, '*.pth'))
        if not found:
            raise FileNotFoundError(f'no checkpoint in {path}' + hint)
        return max(found, key=osp.getmtime)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}' + hint)
    return path


class SORPredictor:
    """A PoseSOR model with adjustable inference thresholds.

    Args:
        config (str): Config file.
        checkpoint (str, optional): Checkpoint file (``None``: random
            weights, for tests).
        device (str): Torch device. Defaults to ``'cpu'``.
        pose_estimator (dict, optional): Config of a
            :class:`~posesor.apis.TopdownPoseRefiner` (mmpose keypoints for
            persons, and the 'external' pose source).
    """

    def __init__(self,
                 config: str,
                 checkpoint: Optional[str],
                 device: str = 'cpu',
                 pose_estimator: Optional[dict] = None) -> None:
        from mmcv.transforms import Compose
        from mmdet.apis import init_detector

        import posesor  # noqa: F401  (registers modules; safe checkpoints)
        from posesor.apis import build_pose_refiner
        self.model = init_detector(config, checkpoint, device=device)
        self.pose_refiner = build_pose_refiner(pose_estimator, device=device)
        #: the pose sources the page offers
        self.pose_sources = [POSE_SOURCE_PREDICTED] + (
            [POSE_SOURCE_EXTERNAL] if self.pose_refiner is not None else [])
        pipeline = [
            t.copy() for t in self.model.cfg.test_dataloader.dataset.pipeline
            if 'Annotation' not in str(t.get('type', ''))
        ]
        pipeline[0] = dict(type='mmdet.LoadImageFromNDArray')
        self.pipeline = Compose(pipeline)
        self.default_obj_threshold = float(
            self.model.test_cfg['obj_threshold'])
        self.default_mask_threshold = float(
            self.model.test_cfg['mask_threshold'])

    def __call__(self,
                 image: np.ndarray,
                 obj_threshold: Optional[float] = None,
                 mask_threshold: Optional[float] = None,
                 pose_source: str = POSE_SOURCE_PREDICTED):
        """Predict one image.

        Args:
            image (np.ndarray): (H, W, 3) uint8 BGR image.
            obj_threshold (float, optional): Objectness threshold of the
                query selection. Defaults to the config's.
            mask_threshold (float, optional): Mask probability threshold.
                Defaults to the config's.
            pose_source (str): One of :attr:`pose_sources`: the poses PDR
                ranks from. Defaults to 'predicted'.

        Returns:
            DetDataSample: The prediction, with ``partitions`` and the
            metainfo ``pose_source``.
        """
        import torch
        from mmdet.apis import inference_detector
        from mmengine.dataset import pseudo_collate

        from posesor.apis import rank_with_pose_estimator
        if pose_source not in self.pose_sources:
            raise ValueError(f'pose source {pose_source!r} is not offered '
                             f'(offered: {self.pose_sources}; "external" '
                             'needs --pose-config)')
        self.model.rank_head.test_pose_source = pose_source
        self.model.test_cfg.update(
            obj_threshold=self.default_obj_threshold
            if obj_threshold is None else float(obj_threshold),
            mask_threshold=self.default_mask_threshold
            if mask_threshold is None else float(mask_threshold),
            with_partitions=True)
        with torch.no_grad():
            if self.pose_refiner is None:
                return inference_detector(
                    self.model, image, test_pipeline=self.pipeline)
            data = pseudo_collate([self.pipeline(dict(img=image, img_id=0))])
            return rank_with_pose_estimator(self.model, data,
                                            self.pose_refiner, [image])[0]


def _numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def prediction_arrays(sample) -> Dict[str, Any]:
    """Numpy arrays of one prediction, most salient first.

    Args:
        sample (DetDataSample): A PoseSOR prediction (instances sorted by
            rank, as ``PoseSOR.predict`` gives them).

    Returns:
        dict: ``masks`` (n, H, W) bool, ``ranks`` (n,), ``rank_scores``,
        ``scores`` (objectness), ``bboxes`` (n, 4), ``keypoints``
        (n, 17, 2), ``keypoint_scores`` (n, 17), ``partitions`` (n, H, W)
        or None, ``person`` (n,) bool and ``keypoint_source`` (list[str]).
    """
    pred = sample.pred_instances
    num = len(pred)
    order = np.argsort(_numpy(pred.ranks), kind='stable') if num else []
    arrays = {
        key: _numpy(pred[key])[order]
        for key in ('masks', 'ranks', 'rank_scores', 'scores', 'bboxes',
                    'keypoints', 'keypoint_scores')
    }
    arrays['masks'] = arrays['masks'].astype(bool)
    arrays['partitions'] = _numpy(pred.partitions)[order] \
        if 'partitions' in pred else None
    visible = (arrays['keypoint_scores'] >= PERSON_VISIBLE_THR).sum(-1)
    arrays['person'] = visible >= PERSON_MIN_KEYPOINTS
    sources = list(pred.keypoint_source) if 'keypoint_source' in pred \
        else [SOURCE_POSESOR] * num
    arrays['keypoint_source'] = [sources[i] for i in order]
    return arrays


def prediction_json(
        arrays: Dict[str, Any],
        name: str,
        thresholds: Dict[str, float],
        pose_source: str = POSE_SOURCE_PREDICTED) -> Dict[str, Any]:
    """The downloadable JSON of one prediction (masks as COCO RLE).

    Args:
        arrays (dict): Output of :func:`prediction_arrays`.
        name (str): Image name.
        thresholds (dict): The thresholds used.
        pose_source (str): The poses that ranked the image.

    Returns:
        dict: See the module docstring.
    """
    from pycocotools import mask as mask_utils
    height, width = arrays['masks'].shape[1:]  # (0, H, W) when empty
    instances = []
    for i in range(len(arrays['ranks'])):
        rle = mask_utils.encode(
            np.asfortranarray(arrays['masks'][i].astype(np.uint8)))
        instances.append(
            dict(
                rank=int(arrays['ranks'][i]),
                rank_score=float(arrays['rank_scores'][i]),
                objectness=float(arrays['scores'][i]),
                person=bool(arrays['person'][i]),
                keypoint_source=arrays['keypoint_source'][i],
                bbox=[float(v) for v in arrays['bboxes'][i]],
                keypoints=arrays['keypoints'][i].astype(float).tolist(),
                keypoint_scores=arrays['keypoint_scores'][i].astype(
                    float).tolist(),
                mask=dict(
                    size=[int(s) for s in rle['size']],
                    counts=rle['counts'].decode('ascii'))))
    return dict(
        image=name,
        height=height,
        width=width,
        thresholds=thresholds,
        pose_source=pose_source,
        instances=instances)


def instances_table(arrays: Dict[str, Any]) -> str:
    """HTML table of the ranked instances (one row each).

    Args:
        arrays (dict): Output of :func:`prediction_arrays`.

    Returns:
        str: ``<table id="sor-instances">`` with columns rank, rank score,
        objectness, person, keypoint source.
    """
    rows = []
    for i in range(len(arrays['ranks'])):
        rank = int(arrays['ranks'][i])
        r, g, b = rank_colour(rank)
        rows.append(
            f'<tr data-rank="{rank}">'
            f'<td><span class="sor-chip" style="background:rgb({r},{g},{b})">'
            f'{rank}</span></td>'
            f'<td>{arrays["rank_scores"][i]:.3f}</td>'
            f'<td>{arrays["scores"][i]:.3f}</td>'
            f'<td>{"yes" if arrays["person"][i] else "no"}</td>'
            f'<td>{html.escape(arrays["keypoint_source"][i])}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="5">no salient instance</td></tr>')
    return ('<table id="sor-instances"><thead><tr><th>rank</th>'
            '<th>rank score</th><th>objectness</th><th>person</th>'
            '<th>keypoint source</th></tr></thead><tbody>' + ''.join(rows) +
            '</tbody></table>')


def draw(image_bgr: np.ndarray, arrays: Dict[str, Any], masks: bool,
         badges: bool, skeletons: bool, partitions: bool) -> np.ndarray:
    """The rank-coloured overlay (RGB) with the page's toggles.

    Images smaller than :data:`MIN_DRAW_SIDE` are enlarged (by an integer
    factor, nearest neighbour) before drawing, so that badges and lines are
    drawn at the size they are seen in the page.

    Args:
        image_bgr (np.ndarray): (H, W, 3) uint8 BGR image.
        arrays (dict): Output of :func:`prediction_arrays` (H, W masks).
        masks (bool): Fill and outline the masks.
        badges (bool): Draw the rank badges.
        skeletons (bool): Draw the skeletons.
        partitions (bool): Tint the next-target partition map.

    Returns:
        np.ndarray: (H', W', 3) uint8 RGB overlay, H' = H x the factor.
    """
    import cv2
    rgb = image_bgr[..., ::-1]
    factor = int(np.ceil(MIN_DRAW_SIDE / max(rgb.shape[:2])))
    if factor > 1:
        rgb = cv2.resize(
            rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    return draw_sor_overlay(
        rgb,
        arrays['masks'],
        ranks=arrays['ranks'],
        keypoints=arrays['keypoints'],
        keypoints_visible=arrays['keypoint_scores'],
        partitions=arrays['partitions'] if partitions else None,
        draw_masks=masks,
        draw_numbers=badges,
        draw_skeleton=skeletons)


def make_examples(folder: str,
                  num: int = NUM_EXAMPLES,
                  size: int = EXAMPLE_SIZE) -> List[str]:
    """Draw a few synthetic scenes as example images.

    Args:
        folder (str): Where to write ``example_<i>.png``.
        num (int): Number of scenes.
        size (int): Their side in pixels.

    Returns:
        list[str]: The written files.
    """
    import cv2

    from posesor.datasets.synthetic import render_scene
    rng = np.random.default_rng(0)
    paths = []
    for i in range(num):
        rgb, _ = render_scene(rng, size)
        path = osp.join(folder, f'example_{i}.png')
        cv2.imwrite(path, rgb[..., ::-1])
        paths.append(path)
    return paths


CSS = """
#sor-instances {border-collapse: collapse; width: 100%;}
#sor-instances th, #sor-instances td {padding: 4px 10px; text-align: right;}
#sor-instances td:first-child, #sor-instances th:first-child {
  text-align: center;}
.sor-chip {display: inline-block; min-width: 1.6em; border-radius: 0.8em;
  color: white; font-weight: bold; text-shadow: 0 0 2px black;}
"""


def build_app(predictor: SORPredictor, examples: Sequence[str]):
    """The Gradio page.

    Args:
        predictor (SORPredictor): The model.
        examples (Sequence[str]): Example image files.

    Returns:
        gradio.Blocks: The app (not launched).
    """
    import gradio as gr
    out_dir = tempfile.mkdtemp(prefix='posesor_web_')

    def run(path: Optional[str],
            obj_thr: float,
            mask_thr: float,
            show_masks: bool,
            show_badges: bool,
            show_skeletons: bool,
            show_partitions: bool,
            pose_source: str = POSE_SOURCE_PREDICTED,
            progress=gr.Progress()):
        if not path:
            return None, '', None, 'Upload an image or pick an example.', None
        name = osp.basename(path)
        progress(0.05, desc='reading the image')
        try:
            image = read_upload(path)
        except ImageRejected as err:
            return (None, '', None, f'**Cannot use this upload:** '
                    f'{html.escape(str(err))}', None)
        progress(0.2, desc='running PoseSOR')
        sample = predictor(image, obj_thr, mask_thr, pose_source)
        ranked_by = sample.metainfo.get('pose_source', POSE_SOURCE_PREDICTED)
        progress(0.8, desc='drawing')
        arrays = prediction_arrays(sample)
        overlay = draw(image, arrays, show_masks, show_badges, show_skeletons,
                       show_partitions)
        record = prediction_json(
            arrays, name, dict(obj_threshold=obj_thr, mask_threshold=mask_thr),
            ranked_by)
        digest = hashlib.sha1(image.tobytes()).hexdigest()[:10]
        json_path = osp.join(out_dir, f'{osp.splitext(name)[0]}_{digest}.json')
        with open(json_path, 'w') as f:
            json.dump(record, f)
        status = (f'{name}: {image.shape[1]} x {image.shape[0]} px, '
                  f'{len(arrays["ranks"])} ranked instance(s), ranked from '
                  f'{POSE_SOURCE_LABELS[ranked_by]}.')
        return overlay, instances_table(arrays), json_path, status, (image,
                                                                     arrays)

    def redraw(state: Optional[Tuple[np.ndarray, Dict[str,
                                                      Any]]], show_masks: bool,
               show_badges: bool, show_skeletons: bool, show_partitions: bool):
        if state is None:
            return None
        image, arrays = state
        return draw(image, arrays, show_masks, show_badges, show_skeletons,
                    show_partitions)

    with gr.Blocks(title='PoseSOR web demo') as app:
        gr.Markdown('## PoseSOR: salient object ranking guided by human '
                    'pose\nUpload an image (or pick an example): the '
                    'instances are coloured by rank, rank 1 = most salient '
                    '(warm colours first).')
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label='Image', type='filepath', elem_id='sor-upload')
                gr.Examples(
                    examples=[[p] for p in examples],
                    inputs=[upload],
                    label='Examples')
                obj_thr = gr.Slider(
                    0.0,
                    1.0,
                    value=predictor.default_obj_threshold,
                    step=0.01,
                    label='objectness threshold',
                    elem_id='sor-obj-thr')
                mask_thr = gr.Slider(
                    0.05,
                    0.95,
                    value=predictor.default_mask_threshold,
                    step=0.05,
                    label='mask threshold',
                    elem_id='sor-mask-thr')
                show_masks = gr.Checkbox(
                    True, label='masks', elem_id='sor-show-masks')
                show_badges = gr.Checkbox(
                    True, label='rank badges', elem_id='sor-show-badges')
                show_skeletons = gr.Checkbox(
                    True, label='skeletons', elem_id='sor-show-skeletons')
                show_partitions = gr.Checkbox(
                    False,
                    label='next-target partition map',
                    elem_id='sor-show-partitions')
                pose_source = gr.Radio(
                    predictor.pose_sources,
                    value=POSE_SOURCE_PREDICTED,
                    label='pose source (the poses the ranking reads)',
                    interactive=len(predictor.pose_sources) > 1,
                    elem_id='sor-pose-source')
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id='sor-status')
                overlay = gr.Image(
                    label='Ranked salient instances',
                    type='numpy',
                    format='png',
                    interactive=False,
                    height=OVERLAY_HEIGHT,
                    elem_id='sor-overlay')
                table = gr.HTML(elem_id='sor-table')
                download = gr.File(
                    label='Predictions (JSON)', elem_id='sor-json')
        state = gr.State(None)
        toggles = [show_masks, show_badges, show_skeletons, show_partitions]
        inputs = [upload, obj_thr, mask_thr] + toggles + [pose_source]
        outputs = [overlay, table, download, status, state]
        upload.change(run, inputs, outputs)
        pose_source.change(run, inputs, outputs)
        obj_thr.release(run, inputs, outputs)
        mask_thr.release(run, inputs, outputs)
        for toggle in toggles:
            toggle.change(redraw, [state] + toggles, [overlay])
    return app


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``tools/web_demo.py``."""
    parser = argparse.ArgumentParser(description='PoseSOR web demo')
    parser.add_argument('config', help='PoseSOR config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or a work dir (its last checkpoint)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--host', default='127.0.0.1', help='address')
    parser.add_argument('--port', type=int, default=7860, help='port')
    parser.add_argument(
        '--examples',
        help='folder of example images (default: synthetic scenes)')
    parser.add_argument(
        '--pose-config',
        help='mmpose top-down config: person keypoints from this model, and '
        'the page\'s "external" pose source')
    parser.add_argument(
        '--pose-checkpoint', help='checkpoint of --pose-config (local)')
    args = parser.parse_args(argv)
    if args.pose_checkpoint and not args.pose_config:
        parser.error('--pose-checkpoint needs --pose-config')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of ``tools/web_demo.py``."""
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'config not found: {args.config}')
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
    except FileNotFoundError as err:
        raise SystemExit(str(err))
    try:
        import gradio as gr
    except ImportError:
        raise SystemExit('the web demo needs Gradio: pip install -e .[web]')
    pose_estimator = dict(
        config=args.pose_config,
        checkpoint=args.pose_checkpoint) if args.pose_config else None
    try:
        predictor = SORPredictor(
            args.config,
            checkpoint,
            device=args.device,
            pose_estimator=pose_estimator)
    except FileNotFoundError as err:
        raise SystemExit(str(err))
    if args.examples:
        examples = sorted(
            p for p in glob.glob(osp.join(args.examples, '*'))
            if p.lower().endswith(IMAGE_EXTENSIONS))
        if not examples:
            raise SystemExit(f'--examples: no image in {args.examples}')
    else:
        examples = make_examples(tempfile.mkdtemp(prefix='posesor_examples_'))
    app = build_app(predictor, examples)
    print(
        f'[web_demo] serving {checkpoint} on http://{args.host}:'
        f'{args.port}',
        flush=True)
    app.queue().launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        inbrowser=False,
        show_error=True,
        max_file_size=MAX_UPLOAD_BYTES,
        allowed_paths=[osp.dirname(p) for p in examples],
        css=CSS,
        theme=gr.themes.Default(
            font=['system-ui', 'sans-serif'], font_mono=['monospace']))


if __name__ == '__main__':
    main()
