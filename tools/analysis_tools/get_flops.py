# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""FLOPs and parameters of a PoseSOR model, in total and per submodule.

Example::

    python tools/analysis_tools/get_flops.py configs/posesor_swinl_assr.py \\
        --shape 768

Counts come from mmengine's analysis tools (``FlopAnalyzer``, fvcore's
convention: one fused multiply-add is one FLOP), on one random image through
the network's tensor forward (``mode='tensor'``: backbone, neck, decoder and,
for the kept instances, PAI and PDR; no post-processing). No weights are
loaded or downloaded. ``aten::scaled_dot_product_attention`` is counted too
(QK^T and AV products), which fvcore leaves out.

The cost of PAI and PDR grows with the number of instances kept by the
objectness selection, which for random weights is meaningless; the tool
therefore keeps exactly ``--num-instances`` queries (the top-scoring ones;
default 5, the number of ranked objects per ASSR image).

The paper's numbers (470 GFLOPs / 220 M at 768, 229 GFLOPs at 512) are
printed beside ours. The reference measures with ``thop`` (see its
``demo/predictor.py``), which only counts ``nn.Module`` layers; the line
"layers only" sums our convolutions, linear layers and norms for a count in
that spirit, leaving out functional matrix products (attention, mask
einsums).
"""
import argparse
import os.path as osp
import sys
from functools import partial
from typing import Any, Dict, List, Optional, Tuple
from unittest import mock

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape
from mmengine.analysis.print_helper import complexity_stats_table
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import posesor  # noqa: E402,F401
from posesor.models.task_modules import QuerySlots  # noqa: E402
from posesor.utils.misc import parse_hw, unpadded_metainfo  # noqa: E402

#: Numbers reported in the PoseSOR paper: input side -> (GFLOPs, M params).
PAPER_COMPLEXITY = {768: (470.0, 220.0), 512: (229.0, 220.0)}
#: Operators of nn.Module layers (what a module-hook counter like thop sees).
LAYER_OPERATORS = ('conv', 'linear', 'addmm', 'layer_norm', 'batch_norm',
                   'group_norm', 'instance_norm', 'upsample_bilinear2d',
                   'upsample_nearest2d', 'adaptive_avg_pool2d')
#: Default number of instances sent to PAI/PDR (ASSR ranks 5 per image).
DEFAULT_NUM_INSTANCES = 5


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
        '--num-instances',
        type=int,
        default=DEFAULT_NUM_INSTANCES,
        help='instances kept for PAI/PDR (top objectness); 0 keeps the '
        "model's own selection")
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


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::scaled_dot_product_attention``: QK^T and AV.

    Args:
        inputs (list): JIT inputs; ``q`` (..., Lq, E), ``k`` (..., Lk, E),
            ``v`` (..., Lk, Ev).
        outputs (list): JIT outputs (unused).

    Returns:
        int: Multiply-adds.
    """
    q_shape, k_shape, v_shape = (get_shape(v) for v in inputs[:3])
    batch = 1
    for dim in q_shape[:-2]:
        batch *= dim
    len_q, dim_e = q_shape[-2:]
    len_k, dim_v = k_shape[-2], v_shape[-1]
    return batch * len_q * len_k * (dim_e + dim_v)


def topk_query_selection(num: int):
    """A drop-in for ``SORPostProcessor.select_queries`` that keeps ``num``.

    Args:
        num (int): Queries kept per image (the top objectness scores),
            in ascending query order as the original.

    Returns:
        callable: ``scores -> QuerySlots``.
    """

    def select(scores: torch.Tensor) -> QuerySlots:
        probs = scores.sigmoid()[..., 0]  # (B, Nq)
        k = min(num, probs.shape[1])
        keep = probs.topk(k, dim=1).indices
        hits = torch.zeros_like(probs).scatter(
            1, keep, torch.ones_like(keep, dtype=probs.dtype)) > 0
        bi, qi = torch.where(hits)
        ti = (hits.long().cumsum(dim=1) - 1)[bi, qi]
        return QuerySlots(bi, qi, ti, k)

    return select


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


def get_complexity(
        cfg: Config,
        shape: Tuple[int, int],
        max_depth: int = 2,
        num_instances: int = DEFAULT_NUM_INSTANCES) -> Dict[str, Any]:
    """Count FLOPs and parameters of the config's model.

    Args:
        cfg (Config): A PoseSOR config.
        shape (tuple[int, int]): Input (H, W).
        max_depth (int): Depth of the per-submodule table.
        num_instances (int): Instances kept for PAI/PDR; 0 keeps the
            model's own (objectness) selection.

    Returns:
        dict: ``flops`` (int), ``layer_flops`` (conv/linear/norm only),
        ``by_operator`` (dict), ``params`` (int), ``table`` (str).
    """
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    model = revert_sync_batchnorm(model).eval()
    height, width = shape
    meta = unpadded_metainfo(height, width)
    data_samples = [DetDataSample(metainfo=meta)]
    inputs = torch.randn(1, 3, height, width)
    model.forward = partial(
        _tensor_forward, model=model, data_samples=data_samples)
    patch = mock.patch.object(
        model.post_processor, 'select_queries',
        topk_query_selection(num_instances)) if num_instances > 0 else None
    with torch.no_grad():
        if patch is not None:
            patch.start()
        try:
            analyzer = FlopAnalyzer(model, (inputs, ))
            analyzer.set_op_handle('aten::scaled_dot_product_attention',
                                   sdpa_flop_jit)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            flops = analyzer.total()
            by_operator = dict(analyzer.by_operator())
            table = complexity_stats_table(
                flops=analyzer, max_depth=max_depth, show_param_shapes=False)
        finally:
            if patch is not None:
                patch.stop()
    layer_flops = sum(v for k, v in by_operator.items()
                      if k in LAYER_OPERATORS)
    return dict(
        flops=flops,
        layer_flops=layer_flops,
        by_operator=by_operator,
        num_instances=num_instances if patch is not None else None,
        params=parameter_count(model)[''],
        table=table)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Entry point of ``get_flops.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: See :func:`get_complexity`.
    """
    args = parse_args(argv)
    shape = parse_hw(args.shape)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    result = get_complexity(cfg, shape, args.max_depth, args.num_instances)

    print(result['table'])
    split = '=' * 60
    print(split)
    print(f'Config: {args.config}')
    print(f'Input shape: (1, 3, {shape[0]}, {shape[1]})')
    kept = result['num_instances']
    print('Instances through PAI/PDR: ' +
          (f'{kept} (top objectness)' if kept else "the model's selection"))
    print(f'FLOPs: {result["flops"] / 1e9:.2f} G (one multiply-add = 1)')
    print(f'FLOPs, layers only (conv/linear/norm, as thop counts): '
          f'{result["layer_flops"] / 1e9:.2f} G')
    print(f'Params: {result["params"] / 1e6:.2f} M')
    for side, (gflops, mparams) in sorted(PAPER_COMPLEXITY.items()):
        mark = '  <- this input size' if shape == (side, side) else ''
        print(f'Paper (Swin-L) at {side}x{side}: {gflops:.0f} GFLOPs, '
              f'{mparams:.0f} M params{mark}')
    print(split)
    return result


if __name__ == '__main__':
    main()
