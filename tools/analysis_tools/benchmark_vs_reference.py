# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Speed and memory of this PoseSOR against the authors' implementation.

Both models get the same random weights (the reference's initialisation,
converted with ``posesor.utils.ckpt_convert``), the same image and the same
number of kept queries (the objectness threshold of both is set between the
``--kept``-th and the next query probability). Runs alternate between the
two implementations; the script prints per-stage medians (backbone, neck,
decoder, PAI, PDR, rest = positional encodings + query selection/packing +
post-processing) and the ratios, checks that both give the same ranked
instances, and optionally times a training step and measures the peak
memory of one forward pass (each implementation in its own process).

The reference runs on the CPU with detectron2's pure-Python package and its
extra packages in a folder outside this repository, as
``../shared/ENVIRONMENT.md`` describes::

    python tools/analysis_tools/benchmark_vs_reference.py \\
        --reference /path/to/ECCV24PoseSOR-export \\
        --ref-paths /path/to/refdeps /path/to/detectron2-src \\
        --shapes 768 512 --kept 16 --repeats 3 --threads 2 \\
        --train --memory

Timings are wall-clock on a possibly shared machine: only the ratios of
one run (interleaved repetitions) are meaningful.
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OURS_CONFIG = osp.join(REPO, 'configs', 'posesor_swinl_assr.py')
TINY_CONFIG = osp.join(REPO, 'configs', 'posesor_tiny_synthetic.py')
REF_CONFIG = osp.join('assets', 'model_cards', 'posesor_assr_768x768',
                      'inference', 'config.yaml')
#: The reference overrides of the tiny config's architecture (the parity
#: fixture's micro model, ../shared/parity/posesor_micro_config.json).
REF_TINY_OVERRIDES = [
    'MODEL.SWIN.EMBED_DIM', 32, 'MODEL.SWIN.DEPTHS', [2, 2, 2, 2],
    'MODEL.SWIN.NUM_HEADS', [1, 2, 4, 8], 'MODEL.SWIN.WINDOW_SIZE', 7,
    'MODEL.SWIN.PRETRAIN_IMG_SIZE', 224, 'MODEL.BACKBONE.NUM_FEATURES',
    [32, 64, 128, 256], 'MODEL.COMMON.EMBED_DIM', 64, 'MODEL.COMMON.NUM_HEADS',
    4, 'MODEL.COMMON.HIDDEN_DIM', 128, 'MODEL.COMMON.NUM_QUERIES', 16
]
STAGES = ('backbone', 'neck', 'decoder', 'PAI', 'PDR')
#: Module of each stage, per implementation.
STAGE_MODULES = dict(
    ours=dict(
        backbone='backbone',
        neck='neck',
        decoder='instance_head.decoder',
        PAI='rank_head.pai',
        PDR='rank_head.pdr'),
    reference=dict(
        backbone='backbone',
        neck='neck',
        decoder='instance_seg',
        PAI='actor_interaction',
        PDR='pose_shift'))
IMPLS = ('reference', 'ours')
RSS_POLL_S = 0.002
NUM_KEYPOINTS = 17
TRAIN_INSTANCES = 3


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='This PoseSOR against the reference implementation')
    parser.add_argument(
        '--reference', required=True, help='exported reference repository')
    parser.add_argument(
        '--ref-paths',
        nargs='*',
        default=[],
        help='folders with the reference\'s packages (detectron2 source, '
        'timm, fvcore, ...), put on sys.path')
    parser.add_argument(
        '--arch',
        choices=['swinl', 'tiny'],
        default='swinl',
        help='the released Swin-L architecture or the tiny config\'s')
    parser.add_argument('--shapes', type=int, nargs='+', default=[768, 512])
    parser.add_argument(
        '--kept', type=int, default=16, help='queries kept for PAI/PDR')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--train', action='store_true', help='also time a training step')
    parser.add_argument('--train-shape', type=int, default=512)
    parser.add_argument(
        '--train-tiny',
        action='store_true',
        help='time the tiny config\'s training step (128 px) too')
    parser.add_argument(
        '--memory',
        action='store_true',
        help='peak memory of one forward pass (and, with --train, one '
        'training step), one process each')
    parser.add_argument(
        '--skip-inference',
        action='store_true',
        help='no inference timing (with --train or --memory)')
    parser.add_argument('--memory-child', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------
# building both models with the same weights
# --------------------------------------------------------------------------
def setup_paths(reference: str, ref_paths: Sequence[str]) -> None:
    """Put the reference and its packages first on ``sys.path`` (its
    ``configs`` package must win over this repository's folder)."""
    for path in reversed([reference, *ref_paths]):
        sys.path.insert(0, osp.abspath(path))
    if REPO not in sys.path:
        sys.path.append(REPO)


def build_reference(reference: str, overrides: Sequence[Any] = ()):
    """The reference model on the CPU, random initialisation, in eval."""
    import network  # noqa: F401  (registers the reference's modules)
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from configs import add_custom_config
    cfg = get_cfg()
    add_custom_config(cfg)
    cfg.merge_from_file(osp.join(reference, REF_CONFIG))
    cfg.merge_from_list([
        'MODEL.DEVICE', 'cpu', 'MODEL.WEIGHTS', '', 'DEBUG.DEBUG_DIR',
        tempfile.mkdtemp(prefix='posesor_ref_debug_'), *overrides
    ])
    model = build_model(cfg).eval()
    for debug in (model.debug, model.test_debug):
        # the reference writes debug figures on its first call
        debug.tick = lambda: None
        debug.enable = False
    return model


def build_ours(config: str, state: Optional[Dict[str, torch.Tensor]] = None):
    """This project's model from ``config``, loaded with the reference's
    (converted) weights when ``state`` is given; in eval."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import posesor  # noqa: F401
    from posesor.utils.ckpt_convert import convert_posesor
    cfg = Config.fromfile(config)
    cfg.model.data_preprocessor.batch_augments = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    if state is not None:
        converted = convert_posesor(state, source='reference (random)')
        model.load_state_dict(converted, strict=True)
    return model.eval()


def test_image(size: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (uint8, (size, size, 3)) with blobs."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=gen) * 255
    image = torch.nn.functional.interpolate(
        low, size=(size, size), mode='bicubic', align_corners=False)
    return image[0].clamp(0, 255).byte().permute(1, 2, 0).numpy()


# --------------------------------------------------------------------------
# one forward pass of each implementation
# --------------------------------------------------------------------------
def reference_inputs(rgb: np.ndarray) -> List[dict]:
    """The reference's test batch of one image (no resize)."""
    height, width = rgb.shape[:2]
    image = torch.from_numpy(rgb).permute(2, 0, 1).float()
    return [dict(image=image, height=height, width=width, image_name='b')]


def ours_inputs(rgb: np.ndarray) -> dict:
    """This project's test batch of one image (no resize, BGR input)."""
    from mmdet.structures import DetDataSample

    from posesor.utils.misc import unpadded_metainfo
    height, width = rgb.shape[:2]
    bgr = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1]))
    return dict(
        inputs=[bgr.permute(2, 0, 1).contiguous()],
        data_samples=[
            DetDataSample(metainfo=unpadded_metainfo(height, width))
        ])


def run_once(impl: str, model, batch) -> Any:
    """One inference call."""
    with torch.no_grad():
        if impl == 'reference':
            return model(batch)[0]
        return model.test_step(copy.deepcopy(batch))[0].pred_instances


class StageTimer:
    """Wall time of the stage modules of a model, by forward hooks."""

    def __init__(self, model: torch.nn.Module, modules: Dict[str, str]):
        self.times: Dict[str, float] = defaultdict(float)
        self._start: Dict[str, float] = {}
        for stage, name in modules.items():
            module = model.get_submodule(name)
            module.register_forward_pre_hook(self._pre(stage))
            module.register_forward_hook(self._post(stage))

    def _pre(self, stage: str) -> Callable:

        def hook(*_):
            self._start[stage] = time.perf_counter()

        return hook

    def _post(self, stage: str) -> Callable:

        def hook(*_):
            self.times[stage] += time.perf_counter() - self._start[stage]

        return hook

    def reset(self) -> None:
        self.times.clear()


def kept_queries_threshold(model, batch: dict, kept: int) -> float:
    """An objectness threshold that keeps exactly ``kept`` queries."""
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        outputs = model.instance_head(model.extract_feat(data['inputs']))
    probs = outputs['scores'].sigmoid()[0, :, 0].sort(descending=True).values
    if kept >= len(probs):
        return 0.0
    return float((probs[kept - 1] + probs[kept]) / 2)


def set_threshold(impl: str, model, threshold: float) -> None:
    """Set the objectness threshold of either implementation."""
    if impl == 'reference':
        model.cfg.defrost()
        model.cfg.TEST.OBJ_THRESHOLD = threshold
        model.cfg.freeze()
    else:
        model.test_cfg['obj_threshold'] = threshold


def compare_outputs(ref_out: dict, ours) -> str:
    """How far this project's ranked instances are from the reference's."""
    num = int(ref_out['num'])
    if len(ours) != num:
        return f'instances differ: reference {num}, ours {len(ours)}'
    if num == 0:
        return 'both: no instance'
    ref_masks = torch.from_numpy(np.stack(ref_out['masks'])).bool()
    inter = (ref_masks & ours.masks).flatten(1).sum(1).float()
    union = (ref_masks | ours.masks).flatten(1).sum(1).clamp(min=1).float()
    score_err = (ours.rank_scores - torch.tensor(ref_out['saliency'])).abs()
    return (f'{num} instances in the same order, min mask IoU '
            f'{float((inter / union).min()):.6f}, max rank-score error '
            f'{float(score_err.max()):.2e}')


def time_inference(models: Dict[str, Any], size: int, kept: int,
                   repeats: int) -> Dict[str, Dict[str, List[float]]]:
    """Alternating timed forward passes at ``size``; returns per impl the
    lists of total and per-stage seconds."""
    rgb = test_image(size)
    batches = dict(reference=reference_inputs(rgb), ours=ours_inputs(rgb))
    threshold = kept_queries_threshold(models['ours'], batches['ours'], kept)
    timers = {}
    kept_seen = {}
    for impl, model in models.items():
        set_threshold(impl, model, threshold)
        timers[impl] = StageTimer(model, STAGE_MODULES[impl])
    pai = models['reference'].actor_interaction
    handle = pai.register_forward_hook(lambda m, i, o: kept_seen.update(
        reference=int(o[4]['masks'].shape[1])))
    outputs = {
        impl: run_once(impl, models[impl], batches[impl])  # warm-up
        for impl in IMPLS
    }
    handle.remove()
    kept_seen['ours'] = len(outputs['ours'].query_indices) if len(
        outputs['ours']) else 0
    print(f'  kept queries: reference {kept_seen["reference"]}, '
          f'ours (after merging) {kept_seen["ours"]}; ' +
          compare_outputs(outputs['reference'], outputs['ours']))
    results = {impl: defaultdict(list) for impl in IMPLS}
    for rep in range(repeats):
        order = IMPLS if rep % 2 == 0 else IMPLS[::-1]
        for impl in order:
            timers[impl].reset()
            start = time.perf_counter()
            run_once(impl, models[impl], batches[impl])
            total = time.perf_counter() - start
            results[impl]['total'].append(total)
            staged = 0.0
            for stage in STAGES:
                results[impl][stage].append(timers[impl].times[stage])
                staged += timers[impl].times[stage]
            results[impl]['rest'].append(total - staged)
    return results


def print_table(title: str, results: Dict[str, Dict[str, List[float]]],
                keys: Sequence[str]) -> None:
    """Median seconds per implementation and the speed-up."""
    print(f'  {title}')
    print(f'    {"stage":<10}{"reference s":>13}{"ours s":>10}'
          f'{"speed-up":>10}')
    for key in keys:
        ref = statistics.median(results['reference'][key])
        ours = statistics.median(results['ours'][key])
        ratio = ref / ours if ours > 0 else float('inf')
        print(f'    {key:<10}{ref:>13.3f}{ours:>10.3f}{ratio:>9.2f}x')


# --------------------------------------------------------------------------
# training step
# --------------------------------------------------------------------------
def train_sample(size: int, seed: int = 0) -> Tuple[np.ndarray, dict]:
    """An image and ``TRAIN_INSTANCES`` box-shaped instances with ranks,
    keypoints and boxes (pixels)."""
    gen = torch.Generator().manual_seed(seed)
    rgb = test_image(size, seed)
    masks = np.zeros((TRAIN_INSTANCES, size, size), np.uint8)
    boxes = []
    for i in range(TRAIN_INSTANCES):
        x0, y0 = (
            int(v) for v in torch.randint(0, size // 2, (2, ), generator=gen))
        w, h = (
            int(v)
            for v in torch.randint(size // 8, size // 2, (2, ), generator=gen))
        masks[i, y0:y0 + h, x0:x0 + w] = 1
        boxes.append([x0, y0, x0 + w, y0 + h])
    keypoints = torch.rand(
        TRAIN_INSTANCES, NUM_KEYPOINTS, 2, generator=gen) * size
    visible = (torch.rand(TRAIN_INSTANCES, NUM_KEYPOINTS, generator=gen)
               > 0.3).float()
    return rgb, dict(
        masks=masks,
        boxes=torch.tensor(boxes, dtype=torch.float32),
        keypoints=keypoints,
        visible=visible,
        ranks=torch.arange(1, TRAIN_INSTANCES + 1))


def reference_train_batch(rgb: np.ndarray, gt: dict) -> List[dict]:
    """The reference's training batch (its dataset mapper's format)."""
    size = rgb.shape[0]
    masks = torch.from_numpy(gt['masks']).float()
    background = 1.0 - masks.amax(0)
    next_targets = torch.cat([masks[1:], background[None]])  # ranks 1..n
    keypoints = torch.cat([gt['keypoints'] / size, gt['visible'][..., None]],
                          -1)
    return [
        dict(
            image=torch.from_numpy(rgb).permute(2, 0, 1).float(),
            masks=masks,
            keypoints=keypoints,
            bboxes=(gt['boxes'] / size).clamp(0, 1),
            category_ids=gt['ranks'],
            next_targets=next_targets,
            height=size,
            width=size,
            image_name='b')
    ]


def ours_train_batch(rgb: np.ndarray, gt: dict) -> dict:
    """This project's training batch of the same sample."""
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    batch = ours_inputs(rgb)
    size = rgb.shape[0]
    instances = InstanceData()
    instances.masks = BitmapMasks(gt['masks'], size, size)
    instances.bboxes = gt['boxes']
    instances.labels = torch.zeros(TRAIN_INSTANCES, dtype=torch.long)
    instances.ranks = gt['ranks']
    instances.keypoints = gt['keypoints']
    instances.keypoints_visible = gt['visible']
    batch['data_samples'][0].gt_instances = instances
    return batch


def train_step(impl: str, model, batch) -> float:
    """One forward + backward; returns the summed loss."""
    model.zero_grad(set_to_none=True)
    if impl == 'reference':
        losses = model(batch)
    else:
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = model(**data, mode='loss')
    total = sum(v for v in losses.values() if torch.is_tensor(v))
    total.backward()
    return float(total.detach())


def time_training(models: Dict[str, Any], size: int,
                  repeats: int) -> Dict[str, Dict[str, List[float]]]:
    """Alternating timed training steps (batch 1)."""
    rgb, gt = train_sample(size)
    batches = dict(
        reference=reference_train_batch(rgb, gt),
        ours=ours_train_batch(rgb, gt))
    ref = models['reference']
    ref.cfg.defrost()
    ref.cfg.INPUT.DYNAMIC_SIZES = [(size, size)]
    ref.cfg.freeze()
    results = {impl: defaultdict(list) for impl in IMPLS}
    for impl in IMPLS:
        models[impl].train()
        train_step(impl, models[impl], batches[impl])  # warm-up
    for rep in range(repeats):
        for impl in (IMPLS if rep % 2 == 0 else IMPLS[::-1]):
            start = time.perf_counter()
            train_step(impl, models[impl], batches[impl])
            results[impl]['step'].append(time.perf_counter() - start)
    for model in models.values():
        model.eval()
    return results


# --------------------------------------------------------------------------
# peak memory (one process per implementation)
# --------------------------------------------------------------------------
def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_rss_during(fn: Callable[[], Any]) -> Tuple[int, int]:
    """(baseline RSS, peak RSS) while ``fn`` runs, sampled by a thread."""
    baseline = rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(RSS_POLL_S)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return baseline, max(peak[0], rss_bytes())


def memory_child(args: argparse.Namespace) -> None:
    """Build one implementation from the saved weights and measure one
    forward pass (``infer``) or one training step (``train``), in a fresh
    process."""
    impl, mode, size, weights = args.memory_child.split(':')
    size = int(size)
    saved = torch.load(weights, weights_only=True)
    torch.manual_seed(0)
    if impl == 'reference':
        model = build_reference(args.reference)
        model.load_state_dict(saved['state'], strict=True)
    else:
        model = build_ours(OURS_CONFIG, saved['state'])
    if mode == 'train':
        rgb, gt = train_sample(size)
        if impl == 'reference':
            batch = reference_train_batch(rgb, gt)
            model.cfg.defrost()
            model.cfg.INPUT.DYNAMIC_SIZES = [(size, size)]
            model.cfg.freeze()
        else:
            batch = ours_train_batch(rgb, gt)
        model.train()
        del saved
        baseline, peak = peak_rss_during(
            lambda: train_step(impl, model, batch))
    else:
        batch = (reference_inputs if impl == 'reference' else ours_inputs)(
            test_image(size))
        set_threshold(impl, model, saved['thresholds'][str(size)])
        del saved
        baseline, peak = peak_rss_during(lambda: run_once(impl, model, batch))
    print(json.dumps(dict(baseline=baseline, peak=peak)))


def measure_memory(args: argparse.Namespace, ref_model, thresholds) -> None:
    """Peak RSS increase of one forward pass (and, with ``--train``, one
    training step) of each implementation."""
    runs = [('infer', size, 'one forward pass') for size in args.shapes]
    if args.train:
        runs.append(('train', args.train_shape, 'one training step'))
    with tempfile.TemporaryDirectory() as tmp:
        weights = osp.join(tmp, 'weights.pth')
        torch.save(
            dict(
                state=ref_model.state_dict(),
                thresholds={
                    str(k): v
                    for k, v in thresholds.items()
                }), weights)
        for mode, size, what in runs:
            row = {}
            for impl in IMPLS:
                cmd = [
                    sys.executable,
                    osp.abspath(__file__), '--reference', args.reference,
                    '--ref-paths', *args.ref_paths, '--threads',
                    str(args.threads), '--memory-child',
                    f'{impl}:{mode}:{size}:{weights}'
                ]
                out = subprocess.run(
                    cmd, check=True, capture_output=True, text=True).stdout
                row[impl] = json.loads(out.strip().splitlines()[-1])
            ref = (row['reference']['peak'] - row['reference']['baseline'])
            ours = row['ours']['peak'] - row['ours']['baseline']
            print(f'  {size}x{size}: peak RSS increase of {what}: '
                  f'reference {ref / 2**20:.0f} MiB, ours {ours / 2**20:.0f} '
                  f'MiB (ours / reference {ours / ref:.2f}); absolute peak '
                  f'reference {row["reference"]["peak"] / 2**20:.0f} MiB, '
                  f'ours {row["ours"]["peak"] / 2**20:.0f} MiB')


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    setup_paths(args.reference, args.ref_paths)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; '
          'the machine may be shared: compare the ratios only')
    torch.manual_seed(0)
    tiny = args.arch == 'tiny'
    reference = build_reference(args.reference, REF_TINY_OVERRIDES if tiny else
                                ())
    state = reference.state_dict()
    models = dict(
        reference=reference,
        ours=build_ours(TINY_CONFIG if tiny else OURS_CONFIG, state))
    thresholds = {}
    if not args.skip_inference:
        for size in args.shapes:
            print(f'inference, {args.arch}, {size}x{size}, batch 1, '
                  f'{args.repeats} alternating runs each')
            results = time_inference(models, size, args.kept, args.repeats)
            print_table('median seconds', results, ('total', *STAGES, 'rest'))
    if args.memory:
        for size in args.shapes:
            batch = ours_inputs(test_image(size))
            thresholds[size] = kept_queries_threshold(models['ours'], batch,
                                                      args.kept)
        print('memory (one process per implementation)')
        measure_memory(args, reference, thresholds)
    if args.train:
        print(f'training step, {args.arch}, {args.train_shape}x'
              f'{args.train_shape}, batch 1')
        print_table('median seconds',
                    time_training(models, args.train_shape, args.repeats),
                    ('step', ))
    if args.train_tiny:
        del models
        torch.manual_seed(0)
        tiny_ref = build_reference(args.reference, REF_TINY_OVERRIDES)
        tiny = dict(
            reference=tiny_ref,
            ours=build_ours(TINY_CONFIG, tiny_ref.state_dict()))
        print('training step, tiny config, 128x128, batch 1')
        print_table('median seconds',
                    time_training(tiny, 128, max(args.repeats, 5)), ('step', ))


if __name__ == '__main__':
    main()
