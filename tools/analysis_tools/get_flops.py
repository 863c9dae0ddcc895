# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""FLOPs and parameters of a PoseSOR model, in total and per submodule.

Example::

    python tools/analysis_tools/get_flops.py configs/posesor_swinl_assr.py \\
        --shape 768

Counts come from mmengine's analysis tools (``FlopAnalyzer``, fvcore's
convention: one fused multiply-add is one FLOP, the convention of the
paper's numbers too), on one random image through the network's tensor
forward (``mode='tensor'``: backbone, neck and heads, no post-processing).
No weights are loaded or downloaded. The paper's numbers are printed beside
ours.
"""
import argparse
import os.path as osp
import sys
from functools import partial
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.print_helper import complexity_stats_table
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import posesor  # noqa: E402,F401

#: Numbers reported in the PoseSOR paper: input side -> (GFLOPs, M params).
PAPER_COMPLEXITY = {768: (470.0, 220.0), 512: (229.0, 220.0)}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``get_flops.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='FLOPs and parameters of a PoseSOR model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[768, 768],
        help='input size: one side (square) or H W')
    parser.add_argument(
        '--max-depth',
        type=int,
        default=2,
        help='depth of the per-submodule table')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def _flatten_tensors(outputs: Any) -> Tuple[torch.Tensor, ...]:
    """Collect the tensors of nested outputs (for JIT tracing)."""
    if isinstance(outputs, torch.Tensor):
        return (outputs, )
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs)]
    elif hasattr(outputs, 'values') and callable(outputs.values):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        flat: Tuple[torch.Tensor, ...] = ()
        for item in outputs:
            flat += _flatten_tensors(item)
        return flat
    return ()


def _tensor_forward(
        inputs: torch.Tensor, model: torch.nn.Module,
        data_samples: List[DetDataSample]) -> Tuple[torch.Tensor, ...]:
    """``model(inputs, data_samples, mode='tensor')`` as a flat tuple."""
    outputs = model.__class__.forward(
        model, inputs, data_samples, mode='tensor')
    return _flatten_tensors(outputs)


def get_complexity(cfg: Config,
                   shape: Tuple[int, int],
                   max_depth: int = 2) -> Dict[str, Any]:
    """Count FLOPs and parameters of the config's model.

    Args:
        cfg (Config): A PoseSOR config.
        shape (tuple[int, int]): Input (H, W).
        max_depth (int): Depth of the per-submodule table.

    Returns:
        dict: ``flops`` (int), ``params`` (int), ``table`` (str).
    """
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    model = revert_sync_batchnorm(model).eval()
    height, width = shape
    meta = dict(
        img_shape=(height, width),
        ori_shape=(height, width),
        pad_shape=(height, width),
        batch_input_shape=(height, width),
        scale_factor=(1.0, 1.0))
    data_samples = [DetDataSample(metainfo=meta)]
    inputs = torch.randn(1, 3, height, width)
    model.forward = partial(
        _tensor_forward, model=model, data_samples=data_samples)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (inputs, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        flops = analyzer.total()
        table = complexity_stats_table(
            flops=analyzer, max_depth=max_depth, show_param_shapes=False)
    return dict(flops=flops, params=parameter_count(model)[''], table=table)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Entry point of ``get_flops.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: See :func:`get_complexity`.
    """
    args = parse_args(argv)
    if len(args.shape) == 1:
        shape = (args.shape[0], args.shape[0])
    elif len(args.shape) == 2:
        shape = tuple(args.shape)
    else:
        raise ValueError(f'--shape takes 1 or 2 numbers, got {args.shape}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    result = get_complexity(cfg, shape, args.max_depth)

    print(result['table'])
    split = '=' * 60
    print(split)
    print(f'Config: {args.config}')
    print(f'Input shape: (1, 3, {shape[0]}, {shape[1]})')
    print(f'FLOPs: {result["flops"] / 1e9:.2f} G (one multiply-add = 1)')
    print(f'Params: {result["params"] / 1e6:.2f} M')
    for side, (gflops, mparams) in sorted(PAPER_COMPLEXITY.items()):
        mark = '  <- this input size' if shape == (side, side) else ''
        print(f'Paper (Swin-L) at {side}x{side}: {gflops:.0f} GFLOPs, '
              f'{mparams:.0f} M params{mark}')
    print(split)
    return result


if __name__ == '__main__':
    main()
