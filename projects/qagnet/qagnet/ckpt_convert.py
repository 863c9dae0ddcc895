# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert QAGNet's released (detectron2) checkpoints to mmdet's
``Mask2Former`` with :class:`QAGNetHead`.

Every key of the source ``{"model": state_dict}`` is mapped by exactly one
rule (the engine and the Swin rules are ``posesor.utils.ckpt_convert``'s);
leftovers, duplicate targets and, given the target model's shapes, missing
keys or shape mismatches raise
:class:`~posesor.utils.ckpt_convert.CheckpointConversionError`.

Besides renaming: detectron2's frozen batch norms have no
``num_batches_tracked`` counter, which mmdet's batch norms keep; the
converter adds it (0, unused by frozen norms in eval mode) next to each
converted ``running_var``.
"""
from typing import Dict, List, Mapping, Optional

import torch
from torch import Tensor

from posesor.utils.ckpt_convert import (CheckpointConversionError, Rule,
                                        Shapes, StateDict,
                                        check_against_shapes,
                                        convert_by_module, swin_rules)

#: Top-level modules of the reference ``MaskFormer`` -> attributes of
#: mmdet's ``Mask2Former`` (the criterion's class-weight buffer is dropped:
#: it is ``loss_cls.class_weight`` in the config).
MODULE_NAMES: Dict[str, str] = {
    'backbone': 'backbone',
    'sem_seg_head': 'panoptic_head',
    'criterion': 'criterion',
}

_WB = r'(weight|bias)'
_BN = r'(weight|bias|running_mean|running_var)'


def resnet_rules() -> List[Rule]:
    """detectron2 ``ResNet`` -> mmdet ``ResNet`` (``style='pytorch'``)."""
    rules: List[Rule] = [
        (r'stem\.conv1\.weight', 'conv1.weight', None, None),
        (r'stem\.conv1\.norm\.' + _BN, r'bn1.\1', None, None),
    ]
    for stage in range(2, 6):
        src, dst = rf'res{stage}\.(\d+)', rf'layer{stage - 1}.\1'
        rules += [
            (rf'{src}\.conv([123])\.weight', rf'{dst}.conv\2.weight', None,
             None),
            (rf'{src}\.conv([123])\.norm\.' + _BN, rf'{dst}.bn\2.\3', None,
             None),
            (rf'{src}\.shortcut\.weight', rf'{dst}.downsample.0.weight', None,
             None),
            (rf'{src}\.shortcut\.norm\.' + _BN, rf'{dst}.downsample.1.\2',
             None, None),
        ]
    return rules


def pixel_decoder_rules() -> List[Rule]:
    """detectron2 ``MSDeformAttnPixelDecoder`` -> mmdet's."""
    src, dst = r'pixel_decoder\.', 'pixel_decoder.'
    layer = src + r'transformer\.encoder\.layers\.(\d+)'
    out = dst + r'encoder.layers.\1'
    return [
        (src + r'input_proj\.(\d+)\.0\.' + _WB,
         dst + r'input_convs.\1.conv.\2', None, None),
        (src + r'input_proj\.(\d+)\.1\.' + _WB, dst + r'input_convs.\1.gn.\2',
         None, None),
        (src + r'transformer\.level_embed', dst + 'level_encoding.weight',
         None, None),
        (layer + r'\.self_attn\.(sampling_offsets|attention_weights|'
         r'value_proj|output_proj)\.' + _WB, out + r'.self_attn.\2.\3', None,
         None),
        (layer + r'\.linear1\.' + _WB, out + r'.ffn.layers.0.0.\2', None,
         None),
        (layer + r'\.linear2\.' + _WB, out + r'.ffn.layers.1.\2', None, None),
        (layer + r'\.norm1\.' + _WB, out + r'.norms.0.\2', None, None),
        (layer + r'\.norm2\.' + _WB, out + r'.norms.1.\2', None, None),
        # the one FPN level of a stride-4 output (adapter_1 / layer_1)
        (src + r'adapter_1\.weight', dst + 'lateral_convs.0.conv.weight', None,
         None),
        (src + r'adapter_1\.norm\.' + _WB, dst + r'lateral_convs.0.gn.\1',
         None, None),
        (src + r'layer_1\.weight', dst + 'output_convs.0.conv.weight', None,
         None),
        (src + r'layer_1\.norm\.' + _WB, dst + r'output_convs.0.gn.\1', None,
         None),
        (src + r'mask_features\.' + _WB, dst + r'mask_feature.\1', None, None),
    ]


def decoder_rules() -> List[Rule]:
    """detectron2 ``MultiScaleMaskedTransformerDecoder`` (Mask2Former
    part) -> mmdet's ``Mask2FormerHead``."""
    src = r'predictor\.'
    dst = r'transformer_decoder.layers.\1'
    attn = r'(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)'
    rules: List[Rule] = [
        (src + r'transformer_cross_attention_layers\.(\d+)\.multihead_attn\.' +
         attn, dst + r'.cross_attn.attn.\2', None, None),
        (src + r'transformer_self_attention_layers\.(\d+)\.self_attn\.' + attn,
         dst + r'.self_attn.attn.\2', None, None),
        # post-norm order: cross-attention, self-attention, FFN
        (src + r'transformer_cross_attention_layers\.(\d+)\.norm\.' + _WB,
         dst + r'.norms.0.\2', None, None),
        (src + r'transformer_self_attention_layers\.(\d+)\.norm\.' + _WB,
         dst + r'.norms.1.\2', None, None),
        (src + r'transformer_ffn_layers\.(\d+)\.norm\.' + _WB,
         dst + r'.norms.2.\2', None, None),
        (src + r'transformer_ffn_layers\.(\d+)\.linear1\.' + _WB,
         dst + r'.ffn.layers.0.0.\2', None, None),
        (src + r'transformer_ffn_layers\.(\d+)\.linear2\.' + _WB,
         dst + r'.ffn.layers.1.\2', None, None),
        (src + r'decoder_norm\.' + _WB, r'transformer_decoder.post_norm.\1',
         None, None),
        (src + r'(query_feat|query_embed|level_embed)\.weight', r'\1.weight',
         None, None),
        (src + r'input_proj\.(\d+)\.' + _WB, r'decoder_input_projs.\1.\2',
         None, None),
        (src + r'class_embed\.' + _WB, r'cls_embed.\1', None, None),
    ]
    # MLP(Linear, ReLU) x 2, Linear -> Sequential with the ReLUs counted
    rules += [(src + rf'mask_embed\.layers\.{i}\.' + _WB,
               rf'mask_embed.{2 * i}.\1', None, None) for i in range(3)]
    return rules


def _gat_rules(src: str, dst: str) -> List[Rule]:
    """Reference ``GraphAttentionLayer`` (``linear1``, ``linear2``) ->
    :class:`GraphAttention` (``node_proj``, ``edge_score``); ``src`` and
    ``dst`` hold the same groups."""
    n = src.count('(')
    return [(f'{src}\\.{a}\\.{_WB}', f'{dst}.{b}.\\{n + 1}', None, None)
            for a, b in (('linear1', 'node_proj'), ('linear2', 'edge_score'))]


def graph_rules() -> List[Rule]:
    """The reference's QAGNet modules (``relation_*`` of its decoder) ->
    :class:`TriTieredQueryGraph` (``graph.*`` of the head)."""
    src, dst = r'predictor\.relation_', 'graph.'
    rules: List[Rule] = []
    for ref, ours, per_scale in (
        ('sscg_n2n.ssc_subg_n2n_unit', 'same_scale_nodes', True),
        ('sscg_n2r.ssc_subg_n2r_unit', 'same_scale_to_rep', True),
        ('sscg_r2n.ssc_subg_r2n_unit', 'same_scale_from_rep', True),
        ('dscg_n2n.dsc_subg_n2n_unit', 'cross_scale_nodes', False),
        ('dscg_n2r.dsc_subg_n2r_unit', 'cross_scale_to_rep', False),
        ('dscg_r2n.dsc_subg_r2n_unit', 'cross_scale_from_rep', False),
    ):
        ref = src + ref.replace('.', r'\.') + r'_layer(\d+)'
        if per_scale:
            rules += _gat_rules(ref + r'_level(\d+)', rf'{dst}{ours}.\1.\2')
        else:
            rules += _gat_rules(ref, rf'{dst}{ours}.\1')
    rules += _gat_rules(src + r'multi_ins_g\.mig_units_layer(\d+)',
                        dst + r'instance_graphs.\1')
    rules += _gat_rules(src + r'multi_ins_g_final\.mig_units_final(\d+)',
                        dst + r'final_instance_graphs.\1')
    rules += [
        (src + r'multifc\.' + _WB, dst + r'final_fuse.\1', None, None),
        (src + r'saliency_score\.' + _WB, dst + r'score_head.\1', None, None),
    ]
    return rules


def qagnet_rules() -> Dict[str, List[Rule]]:
    """Rule tables of the reference's top-level modules (the backbone
    table covers ResNet and Swin; the target model's shapes decide)."""
    return {
        'backbone': resnet_rules() + swin_rules(),
        'sem_seg_head':
        pixel_decoder_rules() + decoder_rules() + graph_rules(),
        'criterion': [(r'empty_weight', None, None, None)],
    }


def add_bn_counters(state: StateDict) -> StateDict:
    """Add ``num_batches_tracked`` (0) beside every batch norm's
    ``running_var`` (mmdet's ``BatchNorm2d`` has the counter, detectron2's
    ``FrozenBatchNorm2d`` not)."""
    for key in [k for k in state if k.endswith('.running_var')]:
        counter = key[:-len('running_var')] + 'num_batches_tracked'
        if counter in state:
            raise CheckpointConversionError(
                f'"{counter}" is already in the converted state dict')
        state[counter] = torch.tensor(0, dtype=torch.long)
    return state


def convert_qagnet(state_dict: Mapping[str, Tensor],
                   expected: Optional[Shapes] = None,
                   source: str = 'checkpoint') -> StateDict:
    """Reference QAGNet state dict -> mmdet ``Mask2Former`` with
    :class:`QAGNetHead`.

    Args:
        state_dict (Mapping[str, Tensor]): The reference's tensors
            (``checkpoint["model"]``).
        expected (Mapping[str, Sequence[int]], optional): Key -> shape of
            the target model (``posesor.utils.ckpt_convert.
            model_state_shapes``); when given the result must match it
            exactly.
        source (str): Name of the source for error messages.

    Returns:
        dict[str, Tensor]: The detector's state dict.

    Raises:
        CheckpointConversionError: On keys outside the known modules, keys
            no rule maps, duplicate targets, and (with ``expected``) missing
            keys, unexpected keys or shape mismatches.
    """
    converted = add_bn_counters(
        convert_by_module(
            state_dict,
            qagnet_rules(),
            MODULE_NAMES,
            source=source,
            model_name='QAGNet'))
    if expected is not None:
        check_against_shapes(converted, expected, source=source)
    return converted
