# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert SeqRank's released (detectron2) checkpoints to :class:`SeqRank`.

Every key of the source ``{"model": state_dict}`` is mapped by exactly one
rule (the engine and the Swin/FPN/positional-encoding rules are
``posesor.utils.ckpt_convert``'s); leftovers, duplicate targets and, given
the target model's shapes, missing keys or shape mismatches raise
:class:`~posesor.utils.ckpt_convert.CheckpointConversionError`.
"""
from typing import Dict, List, Mapping, Optional

from torch import Tensor

from posesor.utils.ckpt_convert import (Rule, Shapes, StateDict,
                                        convert_by_module, neck_rules,
                                        swin_rules)

#: Top-level modules of the reference ``SeqRank`` -> modules of ours.
MODULE_NAMES: Dict[str, str] = {
    'backbone': 'backbone',
    'neck': 'neck',
    'instance_seg': 'instance_head.decoder',
    'gaze_shift': 'rank_head.ranker',
    'pe_layer': 'instance_head.positional_encoding',
}

_ATTN = r'(q_proj|k_proj|v_proj|out_proj)\.(weight|bias)'
_WB = r'(weight|bias)'


def _sam_ffn_rules(src: str, dst: str) -> List[Rule]:
    """``MLPBlock(lin1, GELU, lin2)`` -> mmcv ``FFN`` (``src`` may hold one
    group)."""
    n = src.count('(')
    return [
        (f'{src}\\.lin1\\.{_WB}', f'{dst}.layers.0.0.\\{n + 1}', None, None),
        (f'{src}\\.lin2\\.{_WB}', f'{dst}.layers.1.\\{n + 1}', None, None),
    ]


def frcpn_rules() -> List[Rule]:
    """Reference ``FrcPN`` -> :class:`~.frcpn.FrcPN`."""
    rules: List[Rule] = [
        (r'lateral_conv\.(\d+)\.0\.' + _WB, r'lateral_convs.\1.conv.\2', None,
         None),
        (r'lateral_conv\.(\d+)\.2\.norm\.' + _WB, r'lateral_convs.\1.ln.\2',
         None, None),
    ]
    for src, dst in (('conv1', 'high_conv'), ('conv2', 'out_conv')):
        rules += [
            (rf'frcs\.(\d+)\.{src}\.0\.' + _WB, rf'fusions.\1.{dst}.conv.\2',
             None, None),
            (rf'frcs\.(\d+)\.{src}\.2\.norm\.' + _WB,
             rf'fusions.\1.{dst}.ln.\2', None, None),
        ]
    return rules


def fovea_rules() -> List[Rule]:
    """Reference ``FoveaModule`` -> :class:`~.fovea_decoder.FoveaDecoder`."""
    layer = r'lookByMultiQ_layers\.(\d+)'
    rules: List[Rule] = [
        (r'q', 'query_feat', None, None),
        (r'qpe', 'query_pos', None, None),
        (r'level_embed\.weight', 'level_embed.weight', None, None),
        (r'roi_layers\.(\d+)\.grid_embedding', r'roi_samplers.\1.grid_embed',
         None, None),
        (r'head\.decoder_norm\.' + _WB, r'head.decoder_norm.\1', None, None),
        (r'head\.score_head\.' + _WB, r'head.cls_embed.\1', None, None),
        (r'head\.mask_embed\.layers\.(\d+)\.' + _WB,
         r'head.mask_embed.layers.\1.\2', None, None),
        (r'head\.bbox_head\.layers\.(\d+)\.' + _WB,
         r'head.bbox_embed.layers.\1.\2', None, None),
    ]
    for src, dst in (('linear1', 'query_proj'), ('linear2', 'cell_proj'),
                     ('linear3', 'merge_proj')):
        rules.append((rf'{layer}\.{src}\.([01])\.' + _WB,
                      rf'layers.\1.{dst}.\2.\3', None, None))
    for attn in ('cross_attn', 'self_attn'):
        rules.append((rf'{layer}\.{attn}\.' + _ATTN,
                      rf'layers.\1.{attn}.\2.\3', None, None))
    norms = ('cross_attn_norm', 'self_attn_norm', 'ffn_norm')
    for i, norm in enumerate(norms):
        rules.append((rf'{layer}\.norm{i + 1}\.' + _WB,
                      rf'layers.\1.{norm}.\2', None, None))
    rules += _sam_ffn_rules(rf'{layer}\.ffn', r'layers.\1.ffn')
    return rules


def srm_rules() -> List[Rule]:
    """Reference ``SequentialRankingModule`` ->
    :class:`~.sequential_ranker.SequentialRanker`."""
    block = r'blocks\.(\d+)'
    rules: List[Rule] = [
        (r'prev_emb', 'visited_embed', None, None),
        (r'gaze_emb', 'fixated_embed', None, None),
        (r'head\.([02])\.' + _WB, r'score_head.\1.\2', None, None),
        (rf'{block}\.mlp\.([02])\.' + _WB, r'blocks.\1.map_fusion.op.\2.\3',
         None, None),
        (rf'{block}\.norm_mlp\.' + _WB, r'blocks.\1.map_fusion.norm.\2', None,
         None),
    ]
    # reference sub-layer -> (our sub-layer, its norm index in the reference)
    for src, dst, norm in (('self_attn1', 'query_self_attn',
                            1), ('cross_attn1', 'map_cross_attn',
                                 3), ('cross_attn2', 'query_cross_attn', 4),
                           ('self_attn2', 'query_self_attn2', 5)):
        rules += [
            (rf'{block}\.{src}\.' + _ATTN, rf'blocks.\1.{dst}.op.\2.\3', None,
             None),
            (rf'{block}\.norm{norm}\.' + _WB, rf'blocks.\1.{dst}.norm.\2',
             None, None),
        ]
    for src, dst, norm in (('ffn1', 'query_ffn', 2), ('ffn2', 'query_ffn2',
                                                      6)):
        rules += _sam_ffn_rules(rf'{block}\.{src}', rf'blocks.\1.{dst}.op')
        rules.append((rf'{block}\.norm{norm}\.' + _WB,
                      rf'blocks.\1.{dst}.norm.\2', None, None))
    for src, dst in (('softmax_head', 'gate'), ('before', 'input_proj'),
                     ('after', 'output_proj')):
        rules.append(
            (rf'{block}\.{src}\.' + _WB, rf'blocks.\1.{dst}.\2', None, None))
    return rules


def pe_rules() -> List[Rule]:
    """Reference learnable (``APE``) or random-Fourier (``RANDOM``)
    encodings -> ``LearnableGridPositionalEncoding`` /
    ``RandomFourierPositionalEncoding`` (``SINE`` has no tensors)."""
    return [
        (r'ape', 'pos_embed', None, None),
        (r'positional_encoding_gaussian_matrix', 'gaussian_matrix', None,
         None),
    ]


def seqrank_rules() -> Dict[str, List[Rule]]:
    """Rule tables of the reference's top-level modules (the neck table
    covers both FPN and FrcPN; the target model's shapes decide)."""
    return {
        'backbone': swin_rules(),
        'neck': neck_rules() + frcpn_rules(),
        'instance_seg': fovea_rules(),
        'gaze_shift': srm_rules(),
        'pe_layer': pe_rules(),
    }


def convert_seqrank(state_dict: Mapping[str, Tensor],
                    expected: Optional[Shapes] = None,
                    source: str = 'checkpoint') -> StateDict:
    """Reference SeqRank state dict -> this project's :class:`SeqRank`.

    Args:
        state_dict (Mapping[str, Tensor]): The reference's tensors
            (``checkpoint["model"]``).
        expected (Mapping[str, Sequence[int]], optional): Key -> shape of
            the target model (``posesor.utils.ckpt_convert.
            model_state_shapes``); when given the result must match it
            exactly.
        source (str): Name of the source for error messages.

    Returns:
        dict[str, Tensor]: Our detector's state dict.

    Raises:
        CheckpointConversionError: On keys outside the known modules, keys
            no rule maps, duplicate targets, and (with ``expected``) missing
            keys, unexpected keys or shape mismatches.
    """
    return convert_by_module(
        state_dict,
        seqrank_rules(),
        MODULE_NAMES,
        expected=expected,
        source=source,
        model_name='SeqRank')
