# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert official checkpoints to this project's parameter names.

Two sources are supported:

- the official Swin Transformer release (``swin_large_patch4_window12_384_22k
  .pth``: ``{"model": state_dict}`` with ``layers.*``, ``attn.*``,
  ``mlp.fc1``...), converted to mmpretrain's
  :class:`~mmpretrain.models.SwinTransformer` names (``stages.*``,
  ``attn.w_msa.*``, ``ffn.layers.*``) for a backbone ``init_cfg``;
- a released PoseSOR checkpoint of the authors' detectron2 implementation
  (``{"model": state_dict}``), converted to the state dict of this project's
  ``PoseSOR`` detector.

Every source key must be consumed by exactly one rule: leftovers, duplicate
targets and incomplete packed tensors raise
:class:`CheckpointConversionError` with the offending keys. Given the target
model's key/shape table (see :func:`model_state_shapes`), the result is also
checked to match it exactly.

Two layout changes happen on the way besides renaming:

- mmcv's ``PatchMerging`` gathers each 2x2 neighbourhood with ``nn.Unfold``
  (channel-major), the official one concatenates the four sub-grids
  (position-major, in the order (0,0), (1,0), (0,1), (1,1)); the reduction
  weight and the norm of every patch merging are permuted accordingly.
- The reference's attentions keep separate q/k/v projections; the instance
  decoder here uses :class:`torch.nn.MultiheadAttention`, whose
  ``in_proj_weight``/``in_proj_bias`` stack them, so they are concatenated.
"""
import contextlib
import os
import re
import warnings
from collections import OrderedDict
from typing import (Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import torch
from torch import Tensor, nn

StateDict = Dict[str, Tensor]
Shapes = Mapping[str, Sequence[int]]
#: A rule: source regex (full match), target template with ``\\N`` groups,
#: optional tensor transform, optional (part index, number of parts) for
#: tensors packed from several source tensors along dim 0.
Rule = Tuple[str, str, Optional[Callable[[Tensor], Tensor]],
             Optional[Tuple[int, int]]]

#: Top-level modules of the reference ``PoseSOR`` and their names in this
#: project's detector.
DEFAULT_MODULE_NAMES: Dict[str, str] = {
    'backbone': 'backbone',
    'neck': 'neck',
    'instance_seg': 'instance_head.decoder',
    'actor_interaction': 'rank_head.pai',
    'pose_shift': 'rank_head.pdr',
    'pe_layer': 'instance_head.positional_encoding',
}

#: Top-level modules of this project's detector before the heads owned
#: them (checkpoints trained then) and where they are now.
LEGACY_MODULE_NAMES: Dict[str, str] = {
    'decoder': 'instance_head.decoder',
    'positional_encoding': 'instance_head.positional_encoding',
    'pai': 'rank_head.pai',
    'pdr': 'rank_head.pdr',
}


class CheckpointConversionError(ValueError):
    """A checkpoint cannot be converted (unreadable, wrong or incomplete)."""


# --------------------------------------------------------------------------
# tensor layout helpers
# --------------------------------------------------------------------------
#: Order of the four 2x2 sub-grids of the official PatchMerging, as
#: positions of nn.Unfold's (row-major) kernel order.
_MERGE_ORDER = [0, 2, 1, 3]


def unfold_reduction_order(weight: Tensor) -> Tensor:
    """Permute a PatchMerging reduction weight from official to Unfold order.

    Args:
        weight (Tensor): (C_out, 4 * C) laid out position-major.

    Returns:
        Tensor: (C_out, 4 * C) laid out channel-major in Unfold's order.
    """
    out_channels, in_channels = weight.shape
    weight = weight.reshape(out_channels, 4, in_channels // 4)
    return weight[:,
                  _MERGE_ORDER].transpose(1,
                                          2).reshape(out_channels, in_channels)


def unfold_norm_order(param: Tensor) -> Tensor:
    """Permute a PatchMerging norm weight/bias from official to Unfold order.

    Args:
        param (Tensor): (4 * C,) laid out position-major.

    Returns:
        Tensor: (4 * C,) laid out channel-major in Unfold's order.
    """
    return param.reshape(4, -1)[_MERGE_ORDER].transpose(0, 1).reshape(-1)


# --------------------------------------------------------------------------
# rule tables (source keys are relative to the module root)
# --------------------------------------------------------------------------
_BLOCK = r'layers\.(\d+)\.blocks\.(\d+)'
_STAGE = r'stages.\1.blocks.\2'


def swin_rules(keep_final_norm: bool = False) -> List[Rule]:
    """Official / detectron2 Swin names -> mmpretrain SwinTransformer names.

    Args:
        keep_final_norm (bool): Map the classifier's final ``norm`` of the
            official release to ``norm3``. The reference does not (its
            detectron2 backbone has no such key, so the output norms start
            from their default init). Defaults to False.

    Returns:
        list[Rule]: Rules; a target of ``None`` drops the key.
    """
    rules: List[Rule] = [
        (r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1',
         None, None),
        (r'patch_embed\.norm\.(weight|bias)', r'patch_embed.norm.\1', None,
         None),
        (_BLOCK + r'\.norm([12])\.(weight|bias)', _STAGE + r'.norm\3.\4', None,
         None),
        (_BLOCK + r'\.attn\.(relative_position_bias_table|'
         r'relative_position_index|qkv\.weight|qkv\.bias|proj\.weight|'
         r'proj\.bias)', _STAGE + r'.attn.w_msa.\3', None, None),
        (_BLOCK + r'\.mlp\.fc1\.(weight|bias)', _STAGE + r'.ffn.layers.0.0.\3',
         None, None),
        (_BLOCK + r'\.mlp\.fc2\.(weight|bias)', _STAGE + r'.ffn.layers.1.\3',
         None, None),
        # shifted-window masks are buffers of the official release only
        (_BLOCK + r'\.attn_mask', None, None, None),
        (r'layers\.(\d+)\.downsample\.reduction\.weight',
         r'stages.\1.downsample.reduction.weight', unfold_reduction_order,
         None),
        (r'layers\.(\d+)\.downsample\.norm\.(weight|bias)',
         r'stages.\1.downsample.norm.\2', unfold_norm_order, None),
        # per-output norms of the detectron2 backbone
        (r'norm([0-3])\.(weight|bias)', r'norm\1.\2', None, None),
        # ImageNet classifier of the official release
        (r'head\.(weight|bias)', None, None, None),
        (r'norm\.(weight|bias)', r'norm3.\1' if keep_final_norm else None,
         None, None),
    ]
    return rules


def _post_norm_block_rules(src: str, dst: str, cross: bool,
                           packed: bool) -> List[Rule]:
    """Rules for a reference cross-attn/self-attn/FFN post-norm block.

    Args:
        src (str): Regex of the source block (may contain groups).
        dst (str): Target template of the block.
        cross (bool): The block has a cross-attention (``norm1``..``norm3``)
            rather than only self-attention and FFN.
        packed (bool): Target is an mmdet layer
            (``Mask2FormerTransformerDecoderLayer`` with cross-attention,
            ``DetrTransformerEncoderLayer`` without: ``nn.MultiheadAttention``
            with packed q/k/v, ``norms.N``) instead of separate projections
            (``q_proj``...) and named norms.
    """
    n = src.count('(')  # groups already used by ``src``
    rules: List[Rule] = []
    attn_names = ['cross_attn', 'self_attn'] if cross else ['self_attn']
    for attn in attn_names:
        for part, proj in enumerate(['q_proj', 'k_proj', 'v_proj']):
            if packed:
                rules.append(
                    (f'{src}\\.{attn}\\.{proj}\\.(weight|bias)',
                     f'{dst}.{attn}.attn.in_proj_\\{n + 1}', None, (part, 3)))
            else:
                rules.append((f'{src}\\.{attn}\\.{proj}\\.(weight|bias)',
                              f'{dst}.{attn}.{proj}.\\{n + 1}', None, None))
        out = f'{attn}.attn.out_proj' if packed else f'{attn}.out_proj'
        rules.append((f'{src}\\.{attn}\\.out_proj\\.(weight|bias)',
                      f'{dst}.{out}.\\{n + 1}', None, None))
    if packed:
        norms = [f'norms.{i}' for i in range(len(attn_names) + 1)]
    elif cross:
        norms = ['cross_attn_norm', 'self_attn_norm', 'ffn_norm']
    else:
        norms = ['self_attn_norm', 'ffn_norm']
    for i, norm in enumerate(norms):
        rules.append((f'{src}\\.norm{i + 1}\\.(weight|bias)',
                      f'{dst}.{norm}.\\{n + 1}', None, None))
    rules += [
        (f'{src}\\.ffn\\.lin1\\.(weight|bias)', f'{dst}.ffn.layers.0.0.\\'
         f'{n + 1}', None, None),
        (f'{src}\\.ffn\\.lin2\\.(weight|bias)', f'{dst}.ffn.layers.1.\\'
         f'{n + 1}', None, None),
    ]
    return rules


def _normed_mlp_rules(src: str, dst: str) -> List[Rule]:
    """Rules for a reference ``Sequential(Linear, ReLU, LayerNorm, Linear)``
    -> :class:`~posesor.models.layers.NormedMLP`."""
    n = src.count('(')
    return [(f'{src}\\.{i}\\.(weight|bias)', f'{dst}.{name}.\\{n + 1}', None,
             None) for i, name in ((0, 'fc1'), (2, 'norm'), (3, 'fc2'))]


def _linear_rules(pairs: Sequence[Tuple[str, str]]) -> List[Rule]:
    """Rules renaming whole modules with ``weight``/``bias``."""
    return [(f'{src}\\.(weight|bias)', f'{dst}.\\{src.count("(") + 1}', None,
             None) for src, dst in pairs]


def neck_rules() -> List[Rule]:
    """Reference ``FPN`` -> :class:`~posesor.models.necks.SORFPN`."""
    return [
        (r'lateral_conv\.(\d+)\.0\.(weight|bias)', r'lateral_convs.\1.conv.\2',
         None, None),
        (r'lateral_conv\.(\d+)\.2\.norm\.(weight|bias)',
         r'lateral_convs.\1.ln.\2', None, None),
        (r'fpn_layers\.(\d+)\.scale\.(weight|bias)', r'up_convs.\1.\2', None,
         None),
        (r'fpn_layers\.(\d+)\.conv\.0\.(weight|bias)',
         r'fuse_convs.\1.conv.\2', None, None),
        (r'fpn_layers\.(\d+)\.conv\.2\.norm\.(weight|bias)',
         r'fuse_convs.\1.ln.\2', None, None),
    ]


def decoder_rules() -> List[Rule]:
    """Reference ``TransformerDecoder`` ->
    :class:`~posesor.models.heads.SalientInstanceDecoder`."""
    return [
        (r'q', 'query_feat', None, None),
        (r'qpe', 'query_pos', None, None),
        (r'level_embed\.weight', 'level_embed.weight', None, None),
        *_post_norm_block_rules(
            r'lookByMultiQ_layers\.(\d+)',
            r'layers.\1',
            cross=True,
            packed=True),
        *_linear_rules([
            (r'head\.decoder_norm', 'head.decoder_norm'),
            (r'head\.score_head', 'head.cls_embed'),
            (r'head\.mask_embed\.layers\.(\d+)', r'head.mask_embed.layers.\1')
        ]),
    ]


def pai_rules() -> List[Rule]:
    """Reference ``PAI`` ->
    :class:`~posesor.models.heads.PoseAwareInteraction`."""
    block, dst = r'blocks\.(\d+)', r'blocks.\1'
    return [
        (r'j', 'joint_embed', None, None),
        (r'jpe', 'joint_pos_embed', None, None),
        *_post_norm_block_rules(
            block + r'\.inner_joints_ia',
            dst + '.joint_layer',
            cross=True,
            packed=True),
        *_pai_actor_rules(),
        *_normed_mlp_rules(block + r'\.sub_pose', dst + '.sub_pose_mlp'),
        *_linear_rules([
            (block + r'\.q_linear', dst + '.gate_proj'),
            (block + r'\.sub_pose_norm', dst + '.sub_pose_norm'),
            (block + r'\.scene_norm', dst + '.scene_norm'),
            (r'head\.upx4\.0', 'head.pixel_proj'),
            (r'head\.query_emb', 'head.mask_embed'),
            (r'head\.heat_emb', 'head.heatmap_embed'),
            (r'head\.bbox_head', 'head.bbox_reg'),
            (r'head\.classification_head', 'head.keypoint_cls'),
        ]),
    ]


def _pai_actor_rules() -> List[Rule]:
    """The reference names PAI's actor-level layer ``xi_sa``, ``xi_sa_norm``,
    ``xi_ffn``, ``xi_ffn_norm`` (not ``normN``); map them explicitly onto
    mmdet's ``DetrTransformerEncoderLayer``."""
    block, dst = r'blocks\.(\d+)', r'blocks.\1.actor_layer'
    rules: List[Rule] = [(block + rf'\.xi_sa\.{proj}_proj\.(weight|bias)',
                          dst + r'.self_attn.attn.in_proj_\2', None, (part, 3))
                         for part, proj in enumerate('qkv')]
    return rules + [
        (block + r'\.xi_sa\.out_proj\.(weight|bias)',
         dst + r'.self_attn.attn.out_proj.\2', None, None),
        (block + r'\.xi_sa_norm\.(weight|bias)', dst + r'.norms.0.\2', None,
         None),
        (block + r'\.xi_ffn\.lin1\.(weight|bias)', dst + r'.ffn.layers.0.0.\2',
         None, None),
        (block + r'\.xi_ffn\.lin2\.(weight|bias)', dst + r'.ffn.layers.1.\2',
         None, None),
        (block + r'\.xi_ffn_norm\.(weight|bias)', dst + r'.norms.1.\2', None,
         None),
    ]


def legacy_rules() -> List[Rule]:
    """This project's earlier state-dict names -> the current ones.

    The top-level ``decoder``, ``positional_encoding``, ``pai`` and ``pdr``
    moved into the heads, and PAI's layers became mmdet's (packed q/k/v,
    ``norms.N``). Every other key is kept.
    """
    layer = r'pai\.blocks\.(\d+)\.(joint|actor)_layer'
    dst = r'rank_head.pai.blocks.\1.\2_layer'
    rules: List[Rule] = [
        (layer + rf'\.(cross_attn|self_attn)\.{proj}_proj\.(weight|bias)',
         dst + r'.\3.attn.in_proj_\4', None, (part, 3))
        for part, proj in enumerate('qkv')
    ]
    rules += [
        (layer + r'\.(cross_attn|self_attn)\.out_proj\.(weight|bias)',
         dst + r'.\3.attn.out_proj.\4', None, None),
        (r'pai\.blocks\.(\d+)\.joint_layer\.cross_attn_norm\.(weight|bias)',
         r'rank_head.pai.blocks.\1.joint_layer.norms.0.\2', None, None),
        (r'pai\.blocks\.(\d+)\.joint_layer\.self_attn_norm\.(weight|bias)',
         r'rank_head.pai.blocks.\1.joint_layer.norms.1.\2', None, None),
        (r'pai\.blocks\.(\d+)\.joint_layer\.ffn_norm\.(weight|bias)',
         r'rank_head.pai.blocks.\1.joint_layer.norms.2.\2', None, None),
        (r'pai\.blocks\.(\d+)\.actor_layer\.self_attn_norm\.(weight|bias)',
         r'rank_head.pai.blocks.\1.actor_layer.norms.0.\2', None, None),
        (r'pai\.blocks\.(\d+)\.actor_layer\.ffn_norm\.(weight|bias)',
         r'rank_head.pai.blocks.\1.actor_layer.norms.1.\2', None, None),
    ]
    rules += [(rf'{old}\.(.+)', rf'{new}.\1', None, None)
              for old, new in LEGACY_MODULE_NAMES.items()]
    return rules + [(r'(.+)', r'\1', None, None)]


def is_legacy_state_dict(keys: Sequence[str], prefix: str = '') -> bool:
    """Whether a detector state dict uses the earlier top-level names."""
    tops = tuple(f'{prefix}{name}.' for name in LEGACY_MODULE_NAMES)
    return any(key.startswith(tops) for key in keys)


def upgrade_legacy_state_dict(state_dict: Dict[str, Tensor], prefix: str,
                              *args) -> None:
    """``load_state_dict`` pre-hook of ``PoseSOR``: rename, in place, the
    keys of a checkpoint saved with the earlier module names (see
    :func:`legacy_rules`). Other state dicts are left untouched.

    Args:
        state_dict (dict[str, Tensor]): The state dict being loaded.
        prefix (str): The detector's prefix in it.
        *args: The other arguments of a pre-hook (unused).

    Raises:
        CheckpointConversionError: If the legacy keys do not convert; the
            message says how to convert the file by hand.
    """
    if not is_legacy_state_dict(list(state_dict), prefix):
        return
    mine = {k: v for k, v in state_dict.items() if k.startswith(prefix)}
    try:
        upgraded = apply_rules(
            mine,
            legacy_rules(),
            src_prefix=prefix,
            dst_prefix=prefix,
            source='checkpoint with the earlier PoseSOR module names')
    except CheckpointConversionError as err:
        raise CheckpointConversionError(
            f'{err}. Convert it with `python tools/model_converters/'
            'upgrade_posesor_ckpt.py SRC DST`, or start from a released '
            'checkpoint converted by posesor_to_mmdet.py') from err
    for key in mine:
        del state_dict[key]
    state_dict.update(upgraded)


def pdr_rules() -> List[Rule]:
    """Reference ``PDR`` -> :class:`~posesor.models.heads.PoseDrivenRanking`.
    """
    return [
        (r'bg_coord_rep', 'bg_coord_embed', None, None),
        *_normed_mlp_rules(r'to_directions', 'joints_to_directions'),
        *_normed_mlp_rules(r'directional_cues', 'direction_cue_mlp'),
        *_normed_mlp_rules(r'coordinate_cues', 'coord_cue_mlp'),
        *_normed_mlp_rules(r'd_mmixer\.mlp1', 'direction_mixer.token_mlp'),
        *_normed_mlp_rules(r'd_mmixer\.mlp2', 'direction_mixer.channel_mlp'),
        *_normed_mlp_rules(r'share_mlp', 'pair_mlp'),
        *_linear_rules([
            (r'bg_linear', 'bg_proj'),
            (r'share_linear', 'cue_fuse'),
            (r'agg_head', 'query_proj'),
            (r'nxt_head', 'next_proj'),
            (r'head\.upx4\.0', 'head.pixel_proj'),
            (r'head\.nxt_emb', 'head.next_embed'),
            (r'head\.rank_head', 'head.rank_cls'),
        ]),
    ]


def pe_rules() -> List[Rule]:
    """Reference ``PositionEmbeddingLearnable`` ->
    :class:`~posesor.models.layers.LearnableGridPositionalEncoding`."""
    return [(r'ape', 'pos_embed', None, None)]


def posesor_rules() -> Dict[str, List[Rule]]:
    """Rule tables of the reference's top-level modules."""
    return {
        'backbone': swin_rules(),
        'neck': neck_rules(),
        'instance_seg': decoder_rules(),
        'actor_interaction': pai_rules(),
        'pose_shift': pdr_rules(),
        'pe_layer': pe_rules(),
    }


# --------------------------------------------------------------------------
# engine
# --------------------------------------------------------------------------
def apply_rules(state_dict: Mapping[str, Tensor],
                rules: Sequence[Rule],
                src_prefix: str = '',
                dst_prefix: str = '',
                source: str = 'checkpoint') -> StateDict:
    """Rename (and re-lay-out) every key of ``state_dict`` by ``rules``.

    Args:
        state_dict (Mapping[str, Tensor]): Source tensors; every key must
            start with ``src_prefix``.
        rules (Sequence[Rule]): The first rule whose regex fully matches the
            key (without ``src_prefix``) decides its fate.
        src_prefix (str): Prefix stripped from source keys.
        dst_prefix (str): Prefix prepended to target keys.
        source (str): Name of the source for error messages.

    Returns:
        dict[str, Tensor]: Converted tensors.

    Raises:
        CheckpointConversionError: On keys no rule matches, two source keys
            with the same target, or a packed tensor with missing parts.
    """
    compiled = [(re.compile(pattern), *rest) for pattern, *rest in rules]
    out: StateDict = OrderedDict()
    parts: Dict[str, Dict[int, Tensor]] = {}
    num_parts: Dict[str, int] = {}
    origin: Dict[str, str] = {}
    unmatched: List[str] = []
    for key, value in state_dict.items():
        if not key.startswith(src_prefix):
            unmatched.append(key)
            continue
        name = key[len(src_prefix):]
        for pattern, template, transform, part in compiled:
            match = pattern.fullmatch(name)
            if match is None:
                continue
            if template is None:  # dropped on purpose
                break
            target = dst_prefix + match.expand(template)
            if transform is not None:
                value = transform(value)
            if part is None:
                if target in out or target in parts:
                    raise CheckpointConversionError(
                        f'{source}: "{key}" and "{origin[target]}" both map '
                        f'to "{target}"')
                out[target] = value
            else:
                index, total = part
                slot = parts.setdefault(target, {})
                if index in slot:
                    raise CheckpointConversionError(
                        f'{source}: "{key}" and "{origin[target]}" both map '
                        f'to part {index} of "{target}"')
                slot[index] = value
                num_parts[target] = total
            origin[target] = key
            break
        else:
            unmatched.append(key)
    if unmatched:
        raise CheckpointConversionError(
            f'{source}: {len(unmatched)} key(s) have no conversion rule '
            f'(left over): {_preview(unmatched)}')
    for target, slot in parts.items():
        missing = sorted(set(range(num_parts[target])) - set(slot))
        if missing:
            raise CheckpointConversionError(
                f'{source}: packed tensor "{target}" lacks part(s) {missing} '
                f'(q/k/v projections must all be present)')
        out[target] = torch.cat([slot[i] for i in range(num_parts[target])])
    return out


def _preview(keys: Sequence[str], limit: int = 10) -> str:
    """Comma-separated first ``limit`` keys, with a count of the rest."""
    shown = ', '.join(keys[:limit])
    if len(keys) > limit:
        shown += f', ... ({len(keys) - limit} more)'
    return shown


def check_against_shapes(state_dict: Mapping[str, Tensor],
                         expected: Shapes,
                         source: str = 'checkpoint') -> None:
    """Check that converted keys and shapes equal the model's exactly.

    Args:
        state_dict (Mapping[str, Tensor]): Converted tensors.
        expected (Mapping[str, Sequence[int]]): Key -> shape of the target
            model's ``state_dict()``.
        source (str): Name of the source for error messages.

    Raises:
        CheckpointConversionError: Listing missing keys (the checkpoint is
            incomplete or of another architecture), unexpected keys and shape
            mismatches.
    """
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f'{k} {tuple(state_dict[k].shape)} vs model {tuple(expected[k])}'
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k])
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} model key(s) missing from the '
                        f'checkpoint: {_preview(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} converted key(s) not in the '
                        f'model: {_preview(unexpected)}')
    if mismatched:
        problems.append(f'{len(mismatched)} shape mismatch(es): '
                        f'{_preview(mismatched)}')
    if problems:
        raise CheckpointConversionError(
            f'{source} does not match the model (wrong architecture or '
            'config, or a truncated checkpoint): ' + '; '.join(problems))


def load_torch_file(path: str) -> object:
    """Load a checkpoint on the CPU with ``weights_only=True``, clear errors.

    Uses :func:`posesor.utils.checkpoint.safe_torch_load`, so a file holding
    Python objects other than mmengine's allow-listed types is refused with
    :class:`~posesor.utils.checkpoint.UnsafeCheckpointError` naming the type
    (set ``POSESOR_TRUST_CHECKPOINTS=1`` for a file you trust).

    Args:
        path (str): Checkpoint file.

    Returns:
        object: The unpickled content.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        UnsafeCheckpointError: If the file holds disallowed Python objects.
        CheckpointConversionError: If the file is truncated or not a torch
            checkpoint.
    """
    from .checkpoint import UnsafeCheckpointError, safe_torch_load
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint "{path}" does not exist')
    try:
        return safe_torch_load(path, map_location='cpu')
    except UnsafeCheckpointError:
        raise
    except Exception as err:  # torch raises many types for bad files
        raise CheckpointConversionError(
            f'Cannot read checkpoint "{path}": it is truncated, corrupt or '
            f'not a PyTorch checkpoint ({type(err).__name__}: {err})') from err


def extract_model_state(checkpoint: object, path: str) -> StateDict:
    """The ``"model"`` state dict of a detectron2 / official checkpoint.

    Args:
        checkpoint (object): Loaded file content.
        path (str): File name for error messages.

    Returns:
        dict[str, Tensor]: The model's tensors.

    Raises:
        CheckpointConversionError: If there is no ``"model"`` dict of
            tensors.
    """
    if not isinstance(checkpoint, Mapping) or 'model' not in checkpoint:
        found = (
            list(checkpoint)[:10]
            if isinstance(checkpoint, Mapping) else type(checkpoint).__name__)
        raise CheckpointConversionError(
            f'"{path}" is not a checkpoint of the expected format '
            f'{{"model": state_dict}} (found {found})')
    state = checkpoint['model']
    if not isinstance(state, Mapping) or not state:
        raise CheckpointConversionError(
            f'"{path}": "model" is not a non-empty state dict')
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointConversionError(
            f'"{path}": "model" holds non-tensor entries: {_preview(bad)}')
    return dict(state)


def convert_swin(state_dict: Mapping[str, Tensor],
                 keep_final_norm: bool = False,
                 source: str = 'checkpoint') -> StateDict:
    """Official Swin Transformer state dict -> mmpretrain names.

    Args:
        state_dict (Mapping[str, Tensor]): Official (or detectron2 backbone)
            tensors without prefix.
        keep_final_norm (bool): See :func:`swin_rules`.
        source (str): Name of the source for error messages.

    Returns:
        dict[str, Tensor]: Tensors for mmpretrain's SwinTransformer.
    """
    return apply_rules(state_dict, swin_rules(keep_final_norm), source=source)


def convert_posesor(state_dict: Mapping[str, Tensor],
                    module_names: Optional[Mapping[str, str]] = None,
                    expected: Optional[Shapes] = None,
                    source: str = 'checkpoint') -> StateDict:
    """Reference PoseSOR state dict -> this project's ``PoseSOR``.

    Args:
        state_dict (Mapping[str, Tensor]): The reference model's tensors
            (``checkpoint["model"]``).
        module_names (Mapping[str, str], optional): Reference top-level
            module -> attribute of our detector. Defaults to
            :data:`DEFAULT_MODULE_NAMES`.
        expected (Mapping[str, Sequence[int]], optional): Key -> shape of the
            target model (:func:`model_state_shapes`); when given the result
            must match it exactly.
        source (str): Name of the source for error messages.

    Returns:
        dict[str, Tensor]: Our detector's state dict.

    Raises:
        CheckpointConversionError: See :func:`apply_rules` and
            :func:`check_against_shapes`.
    """
    names = dict(DEFAULT_MODULE_NAMES)
    names.update(module_names or {})
    out = convert_by_module(
        state_dict,
        posesor_rules(),
        names,
        source=source,
        model_name='PoseSOR')
    if expected is not None:
        drop_untrained_pose_predictors(out, expected, source)
        check_against_shapes(out, expected, source=source)
    return out


#: PAI's keypoint and heatmap predictors in this project's names.
PAI_POSE_PREDICTORS = re.compile(
    r'rank_head\.pai\.head\.(keypoint_cls|heatmap_embed)\.(weight|bias)')


def drop_untrained_pose_predictors(state_dict: StateDict,
                                   expected: Shapes,
                                   source: str = 'checkpoint') -> List[str]:
    """Remove PAI's keypoint/heatmap predictors the target model lacks.

    The reference builds them in every variant; a model trained without
    pose losses (``model.rank_head.pai.with_pose_outputs=False``, the
    w/o-pose-knowledge ID2 model) does not, because no loss reaches them
    and nothing but the discarded keypoint outputs reads them. A warning
    names the dropped keys.

    Args:
        state_dict (dict[str, Tensor]): Converted tensors, changed in place.
        expected (Mapping[str, Sequence[int]]): The target model's shapes.
        source (str): Name of the source for the log.

    Returns:
        list[str]: The dropped keys.
    """
    dropped = [
        key for key in state_dict
        if key not in expected and PAI_POSE_PREDICTORS.fullmatch(key)
    ]
    for key in dropped:
        del state_dict[key]
    if dropped:
        warnings.warn(
            f'{source}: dropped {len(dropped)} tensors of PAI\'s keypoint '
            'and heatmap predictors (the model is built with '
            'rank_head.pai.with_pose_outputs=False: no pose loss trains '
            f'them): {_preview(dropped)}',
            stacklevel=2)
    return dropped


def convert_by_module(state_dict: Mapping[str, Tensor],
                      rules: Mapping[str, Sequence[Rule]],
                      module_names: Mapping[str, str],
                      expected: Optional[Shapes] = None,
                      source: str = 'checkpoint',
                      model_name: str = 'reference') -> StateDict:
    """Convert a detectron2-style state dict module by module.

    The extension point for converters of other methods (``projects/``):
    every key's first component names a reference module, whose tensors
    are renamed by that module's rules and moved under our attribute.

    Args:
        state_dict (Mapping[str, Tensor]): The reference model's tensors.
        rules (Mapping[str, Sequence[Rule]]): Reference top-level module ->
            its rules (keys without the module prefix).
        module_names (Mapping[str, str]): Reference top-level module ->
            attribute of our detector.
        expected (Mapping[str, Sequence[int]], optional): Key -> shape of the
            target model; when given the result must match it exactly.
        source (str): Name of the source for error messages.
        model_name (str): Name of the reference model for error messages.

    Returns:
        dict[str, Tensor]: Our detector's state dict.

    Raises:
        CheckpointConversionError: On keys outside ``module_names``, and see
            :func:`apply_rules` and :func:`check_against_shapes`.
    """
    groups: Dict[str, Dict[str, Tensor]] = {}
    unknown = []
    for key, value in state_dict.items():
        top = key.split('.', 1)[0]
        if top not in module_names:
            unknown.append(key)
            continue
        groups.setdefault(top, {})[key] = value
    if unknown:
        raise CheckpointConversionError(
            f'{source}: {len(unknown)} key(s) outside the known {model_name} '
            f'modules {sorted(module_names)}: {_preview(unknown)}')
    out: StateDict = OrderedDict()
    for top, tensors in groups.items():
        out.update(
            apply_rules(
                tensors,
                rules[top],
                src_prefix=top + '.',
                dst_prefix=module_names[top] + '.',
                source=source))
    if expected is not None:
        check_against_shapes(out, expected, source=source)
    return out


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Create every ``nn.Parameter`` on the ``meta`` device.

    Parameters are allocated (uninitialised, so untouched) on the CPU and
    moved to ``meta`` as soon as they are registered, so the
    initialisers that follow cost nothing. Buffers and other tensors stay
    real: constructors may compute with them (e.g. ``Tensor.item()``, which
    a plain ``torch.device('meta')`` context would break).
    """
    register = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str,
                         param: Optional[nn.Parameter]) -> None:
        if param is not None and param.device.type != 'meta':
            param = nn.Parameter(
                param.detach().to('meta'), requires_grad=param.requires_grad)
        register(module, name, param)

    nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def model_state_shapes(model_cfg: Mapping) -> Dict[str, tuple]:
    """Key -> shape of a model's state dict, without allocating weights.

    Parameters are built on the ``meta`` device (see
    :func:`parameters_on_meta`), so even Swin-L costs little memory and no
    initialisation time.

    Args:
        model_cfg (dict | Config): The ``model`` config.

    Returns:
        dict[str, tuple]: Shapes of ``model.state_dict()``.
    """
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'), parameters_on_meta():
        model = MODELS.build(model_cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def conversion_cli(convert: Callable[..., StateDict],
                   model_name: str,
                   default_config: str,
                   argv: Optional[List[str]] = None) -> int:
    """The command line of a detectron2 -> this project converter.

    ``SRC DST [--config CONFIG] [--no-check]``: reads ``{"model": ...}``
    from ``SRC``, converts it with ``convert(state, expected=..., source=...)``
    (checked against the model ``--config`` builds on the ``meta`` device
    unless ``--no-check``) and writes ``{"state_dict": ...}`` to ``DST``.

    Args:
        convert (Callable): E.g. :func:`convert_posesor`.
        model_name (str): Name of the model in the help text.
        default_config (str): ``--config`` default.
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        int: The process exit code (0).
    """
    import argparse
    parser = argparse.ArgumentParser(
        description=f'Convert a released {model_name} (detectron2) '
        f'checkpoint to this project\'s {model_name} state dict.')
    parser.add_argument('src', help='released checkpoint ({"model": ...})')
    parser.add_argument('dst', help='output file ({"state_dict": ...})')
    parser.add_argument(
        '--config',
        default=default_config,
        help=f'config of the target model (default: {default_config})')
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='skip the comparison with the model built from --config')
    args = parser.parse_args(argv)
    state = extract_model_state(load_torch_file(args.src), args.src)
    expected = None
    if not args.no_check:
        from mmengine.config import Config

        import posesor  # noqa: F401  (registers the modules)
        expected = model_state_shapes(Config.fromfile(args.config).model)
    converted = convert(state, expected=expected, source=args.src)
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': converted}, args.dst)
    print(f'converted {len(state)} tensors of {args.src} into '
          f'{len(converted)} tensors: {args.dst}')
    return 0
