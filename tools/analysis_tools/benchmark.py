# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Inference speed and peak memory of a PoseSOR model at a given size.

Example::

    python tools/analysis_tools/benchmark.py configs/posesor_swinl_assr.py \\
        --checkpoint posesor_assr.pth --shape 768 --device cuda:0

Runs ``model.test_step`` (normalisation, network, post-processing to the
original size) on random images of the given size, batch after batch.
The first ``--num-warmup`` batches are excluded from the timing. Peak memory
is ``torch.cuda.max_memory_allocated`` on a GPU; on the CPU it is the
process' peak resident set size (which includes the Python runtime and the
weights).
"""
import argparse
import os.path as osp
import resource
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import posesor  # noqa: E402,F401
from posesor.utils import checkpoint as ckpt_utils  # noqa: E402
from posesor.utils.misc import parse_hw, unpadded_metainfo  # noqa: E402

MIB = 1024**2


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``benchmark.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Images per second and peak memory of a PoseSOR model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--checkpoint', help='checkpoint (random if unset)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[768, 768],
        help='image size: one side (square) or H W')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--num-iters', type=int, default=20, help='timed batches')
    parser.add_argument(
        '--num-warmup', type=int, default=5, help='untimed first batches')
    parser.add_argument('--device', default=None, help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def _peak_rss_mib() -> float:
    """Peak resident set size of this process (MiB, Linux semantics)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark(cfg: Config,
              shape: tuple,
              checkpoint: Optional[str] = None,
              batch_size: int = 1,
              num_iters: int = 20,
              num_warmup: int = 5,
              device: Optional[str] = None,
              seed: int = 0) -> Dict[str, Any]:
    """Time ``model.test_step`` on random images.

    Args:
        cfg (Config): A PoseSOR config.
        shape (tuple[int, int]): Image (H, W) fed to the model.
        checkpoint (str, optional): Weights to load.
        batch_size (int): Images per batch.
        num_iters (int): Timed batches.
        num_warmup (int): Untimed first batches.
        device (str, optional): Device; CUDA when available by default.
        seed (int): Seed of the random images.

    Returns:
        dict: ``fps`` (images/s), ``latency_ms`` (mean per batch),
        ``latency_median_ms`` (median per batch), ``peak_memory_mib``,
        ``memory_kind`` ('cuda_allocated' or 'cpu_peak_rss'), ``device``,
        ``num_images`` (timed).
    """
    if num_iters < 1 or num_warmup < 0:
        raise ValueError('--num-iters must be >= 1 and --num-warmup >= 0')
    device = torch.device(
        device or ('cuda:0' if torch.cuda.is_available() else 'cpu'))
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        # weights_only, with the project's clear refusals
        with ckpt_utils.safe_checkpoint_loading():
            load_checkpoint(model, checkpoint, map_location='cpu')
    model = model.to(device).eval()

    height, width = shape
    rng = np.random.default_rng(seed)
    meta = unpadded_metainfo(height, width)

    def make_batch() -> dict:
        images = rng.integers(
            0, 256, (batch_size, 3, height, width), dtype=np.uint8)
        return dict(
            inputs=[torch.from_numpy(img) for img in images],
            data_samples=[
                DetDataSample(metainfo=meta) for _ in range(batch_size)
            ])

    use_cuda = device.type == 'cuda'
    if use_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.no_grad():
        for i in range(num_warmup + num_iters):
            batch = make_batch()
            if use_cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model.test_step(batch)
            if use_cuda:
                torch.cuda.synchronize(device)
            if i >= num_warmup:
                times.append(time.perf_counter() - start)
    elapsed = sum(times)
    num_images = num_iters * batch_size
    if use_cuda:
        peak, kind = torch.cuda.max_memory_allocated(device) / MIB, \
            'cuda_allocated'
    else:
        peak, kind = _peak_rss_mib(), 'cpu_peak_rss'
    return dict(
        fps=num_images / elapsed,
        latency_ms=1000 * elapsed / num_iters,
        latency_median_ms=1000 * float(np.median(times)),
        peak_memory_mib=peak,
        memory_kind=kind,
        device=str(device),
        num_images=num_images)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Entry point of ``benchmark.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: See :func:`benchmark`.
    """
    args = parse_args(argv)
    shape = parse_hw(args.shape)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    result = benchmark(cfg, shape, args.checkpoint, args.batch_size,
                       args.num_iters, args.num_warmup, args.device)
    print(f'Config: {args.config}  input: {shape[0]}x{shape[1]}  '
          f'batch: {args.batch_size}  device: {result["device"]}')
    print(f'{result["fps"]:.2f} img/s, {result["latency_ms"]:.1f} ms/batch '
          f'over {args.num_iters} batches ({args.num_warmup} warm-up '
          'excluded)')
    print(f'peak memory: {result["peak_memory_mib"]:.0f} MiB '
          f'({result["memory_kind"]})')
    return result


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ckpt_utils.CheckpointReadError,
            ckpt_utils.UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
