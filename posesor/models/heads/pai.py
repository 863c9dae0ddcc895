# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Pose-Aware Interaction (PAI) module of PoseSOR.

Every kept instance query is expanded into joint queries (a learned joint
embedding plus the instance query). Each block lets the joint and instance
tokens of one instance read the image features (gated by an
instance-specific spatial map) and interact among themselves, then lets the
instances interact with each other and with pooled scene tokens through a
sub-pose token that summarises the joints. A head predicts keypoints,
per-joint heatmaps, refined masks and boxes from the last block's tokens
(the reference also predicts after every block, but nothing reads those).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.layers import (DetrTransformerEncoderLayer,
                                 Mask2FormerTransformerDecoderLayer)
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from posesor.utils.misc import MASKED_LOGIT
from ..layers.attention import use_sdpa
from ..layers.norm_mlp import NormedMLP
from ..layers.weight_init import xavier_init_linears

#: Per-joint outputs of the keypoint classifier: x, y, visibility logits.
KEYPOINT_CHANNELS = 3
#: Box regression outputs: cx, cy, h, w logits.
BOX_CHANNELS = 4
#: Hidden width of the joint-axis MLPs, in multiples of the joint count.
JOINT_MLP_RATIO = 4


class PoseAwareInteractionHead(nn.Module):
    """Prediction head of PAI.

    Args:
        embed_dims (int): Token and pixel channels C.
        with_pose_outputs (bool): Build the keypoint and heatmap
            predictors. Defaults to True.
    """

    def __init__(self,
                 embed_dims: int,
                 with_pose_outputs: bool = True) -> None:
        super().__init__()
        self.with_pose_outputs = with_pose_outputs
        self.pixel_proj = nn.Conv2d(embed_dims, embed_dims, 1)
        self.mask_embed = nn.Linear(embed_dims, embed_dims)
        if with_pose_outputs:
            self.heatmap_embed = nn.Linear(embed_dims, embed_dims)
        self.bbox_reg = nn.Linear(embed_dims, BOX_CHANNELS)
        if with_pose_outputs:
            self.keypoint_cls = nn.Linear(embed_dims, KEYPOINT_CHANNELS)

    def init_weights(self) -> None:
        """Xavier-uniform weights, zero biases."""
        xavier_init_linears(self)

    def forward(self, query: Tensor, joints: Optional[Tensor],
                pixels: Tensor) -> Dict[str, Tensor]:
        """Predict from instance and joint tokens.

        Args:
            query (Tensor): (B, n, C) instance tokens.
            joints (Tensor, optional): (B, n, K, C) joint tokens (read only
                with pose outputs).
            pixels (Tensor): (B, C, H, W) output of :attr:`pixel_proj` on the
                mask feature map.

        Returns:
            dict[str, Tensor]: Logits: ``masks`` (B, n, H, W), ``bboxes``
            (B, n, 4) (cx, cy, h, w) and, with pose outputs, ``keypoints``
            (B, n, K, 3) (x, y, visibility) and ``heatmaps``
            (B, n, K, H, W).
        """
        masks = torch.einsum('bnc,bchw->bnhw', self.mask_embed(query), pixels)
        outputs = dict(masks=masks, bboxes=self.bbox_reg(query))
        if self.with_pose_outputs:
            outputs['heatmaps'] = torch.einsum('bnkc,bchw->bnkhw',
                                               self.heatmap_embed(joints),
                                               pixels)
            outputs['keypoints'] = self.keypoint_cls(joints)
        return outputs


def _pair_attn_bias(token_mask: Tensor, num_heads: int) -> Tensor:
    """Additive self-attention bias that keeps pairs of valid tokens.

    A row without any kept key (a padding token) attends to every key, as in
    the reference.

    Args:
        token_mask (Tensor): (B, N, 1), 1 for valid tokens.
        num_heads (int): Attention heads.

    Returns:
        Tensor: (B * num_heads, N, N) bias for ``nn.MultiheadAttention``.
    """
    keep = token_mask @ token_mask.transpose(-1, -2)  # B, N, N
    empty_rows = keep.sum(dim=-1, keepdim=True) < 0.5
    keep = torch.where(empty_rows, torch.ones_like(keep), keep)
    bias = (1.0 - keep) * MASKED_LOGIT
    return bias.repeat_interleave(num_heads, dim=0)


def gated_cross_attention(attn: nn.MultiheadAttention,
                          query: Tensor,
                          key: Tensor,
                          key_pos: Tensor,
                          gate: Optional[Tensor] = None) -> Tensor:
    """Cross-attention of each instance's tokens to its gated features.

    Equals ``attn(query, gate_n * key + key_pos, gate_n * key)`` for every
    instance ``n`` without building the (n, S, C) gated keys: with the
    projections ``W x + b`` linear, the logits are
    ``gate * (q . W_k key) + q . (W_k key_pos + b_k)`` and the output is
    ``(softmax * gate) @ (W_v key) + b_v`` (the softmax rows sum to 1), so
    the keys and values are projected once per image. Without a gate the
    instances share the keys and one SDPA call serves them all.

    Args:
        attn (nn.MultiheadAttention): Holds the packed q/k/v and output
            projections, the number of heads and the attention dropout.
        query (Tensor): (B, n, T, C) tokens plus positions.
        key (Tensor): (B, S, C) features (the values).
        key_pos (Tensor): (B, S, C) their positional encoding.
        gate (Tensor, optional): (B, n, S) per-instance weights of the
            features, in [0, 1].

    Returns:
        Tensor: (B, n, T, C) attention output after the output projection.
    """
    B, N, T, C = query.shape
    heads = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    dropout = attn.dropout if attn.training else 0.0

    def split(x: Tensor) -> Tensor:  # (..., L, C) -> (..., heads, L, d)
        return x.unflatten(-1, (heads, -1)).transpose(-2, -3)

    q = split(F.linear(query, w_q, b_q))  # B, n, h, T, d
    k_feat = split(F.linear(key, w_k))  # B, h, S, d
    k_pos = split(F.linear(key_pos, w_k, b_k))
    value = split(F.linear(key, w_v))
    if gate is None:
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2).flatten(2, 3),
            k_feat + k_pos,
            value + b_v.view(heads, 1, -1),
            dropout_p=dropout)  # B, h, n * T, d
        out = out.unflatten(2, (N, T)).transpose(1, 2)
    else:
        q = q * q.shape[-1]**-0.5
        gate = gate[:, :, None, None, :]  # B, n, 1, 1, S
        logits = torch.addcmul(q @ k_pos.unsqueeze(1).transpose(-1, -2),
                               q @ k_feat.unsqueeze(1).transpose(-1, -2),
                               gate)  # B, n, h, T, S
        weights = F.dropout(logits.softmax(dim=-1), dropout, attn.training)
        out = (weights * gate) @ value.unsqueeze(1) + b_v.view(heads, 1, -1)
    out = out.transpose(2, 3).flatten(-2)  # B, n, T, C
    return attn.out_proj(out)


class PoseAwareInteractionBlock(nn.Module):
    """One PAI block: joint-level then actor-level interaction.

    Joint level: the K joint tokens and the instance token of each instance
    cross-attend to the (gated) features, self-attend, and pass an FFN, each
    step post-norm: mmdet's :class:`Mask2FormerTransformerDecoderLayer`
    (its cross-attention computed by :func:`gated_cross_attention`). Actor
    level: the (sub-pose) instance tokens and the pooled scene tokens
    self-attend and pass an FFN, post-norm: mmdet's
    :class:`DetrTransformerEncoderLayer`.

    Args:
        embed_dims (int): Token channels C.
        num_heads (int): Attention heads.
        feedforward_channels (int): FFN hidden channels.
        num_joints (int): Joints K per instance.
        scene_bins (tuple[int, int]): Output size (h, w) of the adaptive
            average pooling that makes the scene tokens.
        attn_drop (float): Dropout on attention outputs.
        ffn_drop (float): Dropout on FFN outputs.
        use_joint_interaction (bool): Joint tokens attend to the features and
            to each other; False is the reference's ablation ``pai_id8``.
        use_spatial_gating (bool): Gate the features with an
            instance-specific sigmoid map; False (features ungated) is the
            reference's ablation ``pai_id3``.
        use_sub_pose (bool): Actor tokens are sub-pose tokens (instance token
            plus an MLP across the joints); False (plain instance tokens) is
            the reference's ablations ``pai_id4``/``pai_id6``.
        use_scene_tokens (bool): Add pooled scene tokens to the actor-level
            self-attention; False is the reference's ablations
            ``pai_id2``/``pai_id6``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 num_joints: int,
                 scene_bins: Sequence[int],
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0,
                 use_joint_interaction: bool = True,
                 use_spatial_gating: bool = True,
                 use_sub_pose: bool = True,
                 use_scene_tokens: bool = True) -> None:
        super().__init__()
        self.use_joint_interaction = use_joint_interaction
        self.use_spatial_gating = use_spatial_gating and use_joint_interaction
        self.use_sub_pose = use_sub_pose
        self.use_scene_tokens = use_scene_tokens
        self.scene_bins = tuple(scene_bins)
        self.num_heads = num_heads
        attn_cfg = dict(
            embed_dims=embed_dims,
            num_heads=num_heads,
            attn_drop=0.0,
            proj_drop=attn_drop,
            batch_first=True)
        ffn_cfg = dict(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=ffn_drop,
            act_cfg=dict(type='GELU'),
            add_identity=True)
        if use_joint_interaction:
            self.joint_layer = Mask2FormerTransformerDecoderLayer(
                self_attn_cfg=attn_cfg,
                cross_attn_cfg=attn_cfg,
                ffn_cfg=ffn_cfg,
                norm_cfg=dict(type='LN'))
        if self.use_spatial_gating:
            self.gate_proj = nn.Linear(embed_dims, embed_dims)
        if use_sub_pose:
            self.sub_pose_mlp = NormedMLP(num_joints,
                                          JOINT_MLP_RATIO * num_joints, 1)
            self.sub_pose_norm = nn.LayerNorm(embed_dims)
        if use_scene_tokens:
            self.scene_norm = nn.LayerNorm(embed_dims)
        self.actor_layer = DetrTransformerEncoderLayer(
            self_attn_cfg=attn_cfg, ffn_cfg=ffn_cfg, norm_cfg=dict(type='LN'))
        use_sdpa(self)

    def init_weights(self) -> None:
        """Xavier-uniform linear maps, except the sub-pose MLP, which keeps
        PyTorch's default initialisation (as in the reference)."""
        for name in ('joint_layer', 'gate_proj', 'actor_layer'):
            if hasattr(self, name):
                xavier_init_linears(getattr(self, name))

    def _joint_interaction(self, joints: Tensor, joints_pos: Tensor,
                           query: Tensor, query_pos: Tensor, feat: Tensor,
                           feat_pos: Tensor) -> Tuple[Tensor, Tensor]:
        """Joint and instance tokens of each instance read the features.

        Shapes as in :meth:`forward`. Returns the updated (joints, query).
        """
        B, N, K, C = joints.shape
        keys = feat.flatten(2).transpose(1, 2)  # B, HW, C
        keys_pos = feat_pos.flatten(2).transpose(1, 2)  # B, HW, C
        gate = None
        if self.use_spatial_gating:
            gate = torch.sigmoid(self.gate_proj(query) @ keys.transpose(1, 2))
        tokens = torch.cat([joints, query.unsqueeze(2)], dim=2)
        tokens_pos = torch.cat([joints_pos, query_pos.unsqueeze(2)], dim=2)
        layer = self.joint_layer
        cross = layer.cross_attn
        attn = gated_cross_attention(cross.attn, tokens + tokens_pos, keys,
                                     keys_pos, gate)
        tokens = layer.norms[0](
            tokens + cross.dropout_layer(cross.proj_drop(attn)))
        # The K + 1 tokens of an instance share its validity, so the
        # reference's self-attention mask keeps every pair: none is needed.
        tokens, tokens_pos = tokens.flatten(0, 1), tokens_pos.flatten(0, 1)
        tokens = layer.self_attn(
            query=tokens,
            key=tokens,
            value=tokens,
            query_pos=tokens_pos,
            key_pos=tokens_pos)
        tokens = layer.norms[2](layer.ffn(layer.norms[1](tokens)))
        tokens = tokens.unflatten(0, (B, N))
        return tokens[:, :, :K], tokens[:, :, K]

    def forward(self, joints: Tensor, joints_pos: Optional[Tensor],
                query: Tensor, query_pos: Tensor, feat: Tensor,
                feat_pos: Tensor, query_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Run one block.

        Args:
            joints (Tensor): (B, n, K, C) joint tokens.
            joints_pos (Tensor): (B, n, K, C) joint positional encodings.
            query (Tensor): (B, n, C) instance tokens.
            query_pos (Tensor): (B, n, C) instance positional encodings.
            feat (Tensor): (B, C, H, W) key feature map.
            feat_pos (Tensor): (B, C, H, W) its positional encoding.
            query_mask (Tensor): (B, n, 1) float, 1 for kept instances and 0
                for padding.

        Returns:
            tuple[Tensor, Tensor]: Updated instance tokens (B, n, C) and
            joint tokens (B, n, K, C).
        """
        B, N = query.shape[:2]
        if self.use_joint_interaction:
            joints, query = self._joint_interaction(joints, joints_pos, query,
                                                    query_pos, feat, feat_pos)
        if self.use_sub_pose:
            actors = self.sub_pose_norm(
                query +
                self.sub_pose_mlp(joints.transpose(-1, -2)).squeeze(-1))
            actors_pos = query_pos + self.sub_pose_mlp(
                joints_pos.transpose(-1, -2)).squeeze(-1)
        else:
            actors, actors_pos = query, query_pos
        tokens, tokens_pos, token_mask = [actors], [actors_pos], [query_mask]
        if self.use_scene_tokens:
            scene = F.adaptive_avg_pool2d(feat, self.scene_bins)
            scene_pos = F.adaptive_avg_pool2d(feat_pos, self.scene_bins)
            scene = self.scene_norm(scene.flatten(2).transpose(1, 2))
            tokens.append(scene)
            tokens_pos.append(scene_pos.flatten(2).transpose(1, 2))
            token_mask.append(query_mask.new_ones(B, scene.shape[1], 1))
        tokens = self.actor_layer(
            torch.cat(tokens, dim=1),
            torch.cat(tokens_pos, dim=1),
            key_padding_mask=None,
            attn_mask=_pair_attn_bias(
                torch.cat(token_mask, dim=1), self.num_heads))
        return query + tokens[:, :N], joints


@MODELS.register_module()
class PoseAwareInteraction(BaseModule):
    """Pose-Aware Interaction (PAI) module.

    Args:
        embed_dims (int): Token channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        num_joints (int): Joints K per instance (the dataset's keypoints).
        num_blocks (int): PAI blocks; 0 keeps only the head on the initial
            joint tokens (the reference's ablation ``pai_id9``). Defaults
            to 3.
        mask_key (str): Feature map the head predicts masks and heatmaps
            on. Defaults to 'res2' (stride 4).
        feat_key (str): Feature map the blocks read. Defaults to 'res3'
            (stride 8).
        scene_bins (tuple[int, int]): Scene-token grid. Defaults to (4, 4).
        attn_drop (float): Dropout on attention outputs. Defaults to 0.
        ffn_drop (float): Dropout on FFN outputs. Defaults to 0.
        use_joint_interaction (bool): See
            :class:`PoseAwareInteractionBlock`. Defaults to True.
        use_spatial_gating (bool): See :class:`PoseAwareInteractionBlock`.
            Defaults to True.
        use_sub_pose (bool): See :class:`PoseAwareInteractionBlock`.
            Defaults to True.
        use_scene_tokens (bool): See :class:`PoseAwareInteractionBlock`.
            Defaults to True.
        with_pose_outputs (bool): Predict keypoints and heatmaps. False
            (for a model trained without pose losses, which would leave
            these predictors without gradient) builds neither. Defaults to
            True.
        output_joints (bool): Return the joint tokens (PDR's directional
            cues read them). With ``output_joints``, ``with_pose_outputs``,
            ``use_joint_interaction`` and ``use_sub_pose`` all False the joint
            embeddings are not built and ``joints`` is None. Defaults to
            True.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 *,
                 num_joints: int,
                 num_blocks: int = 3,
                 mask_key: str = 'res2',
                 feat_key: str = 'res3',
                 scene_bins: Sequence[int] = (4, 4),
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0,
                 use_joint_interaction: bool = True,
                 use_spatial_gating: bool = True,
                 use_sub_pose: bool = True,
                 use_scene_tokens: bool = True,
                 with_pose_outputs: bool = True,
                 output_joints: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_joints = num_joints
        self.mask_key = mask_key
        self.feat_key = feat_key
        self.output_joints = output_joints
        # Only parameters that some output reads are built: under DDP an
        # unreached parameter stops training (or needs
        # find_unused_parameters, a second graph traversal per step).
        blocks_read_joints = num_blocks > 0 and (use_joint_interaction
                                                 or use_sub_pose)
        self.joint_embed = None
        if blocks_read_joints or with_pose_outputs or output_joints:
            self.joint_embed = nn.Parameter(
                torch.zeros(1, num_joints, embed_dims))
        self.joint_pos_embed = None
        if blocks_read_joints:
            self.joint_pos_embed = nn.Parameter(
                torch.randn(1, num_joints, embed_dims))
        self.blocks = nn.ModuleList([
            PoseAwareInteractionBlock(
                embed_dims,
                num_heads,
                feedforward_channels,
                num_joints,
                scene_bins,
                attn_drop=attn_drop,
                ffn_drop=ffn_drop,
                use_joint_interaction=use_joint_interaction,
                use_spatial_gating=use_spatial_gating,
                use_sub_pose=use_sub_pose,
                use_scene_tokens=use_scene_tokens) for _ in range(num_blocks)
        ])
        self.head = PoseAwareInteractionHead(embed_dims, with_pose_outputs)

    def init_weights(self) -> None:
        """Xavier-uniform linear maps of the blocks and the head."""
        super().init_weights()
        for block in self.blocks:
            block.init_weights()
        self.head.init_weights()

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                feats: Dict[str, Tensor],
                feats_pe: Dict[str, Tensor],
                query_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Run PAI on the kept instance queries.

        Args:
            query (Tensor): (B, n, C) kept instance queries (padded).
            query_pos (Tensor): (B, n, C) their positional embeddings.
            feats (dict[str, Tensor]): Neck maps (B, C, Hi, Wi) by key
                ('res2'..'res5').
            feats_pe (dict[str, Tensor]): Positional encodings of ``feats``.
            query_mask (Tensor, optional): (B, n, 1) float, 1 for kept
                instances, 0 for padding. Defaults to all ones.

        Returns:
            dict[str, Tensor]: The tokens ``query`` (B, n, C) and ``joints``
            (B, n, K, C, or None without ``output_joints``) for PDR, and the
            head's logits (see :meth:`PoseAwareInteractionHead.forward`):
            ``masks`` (at the resolution of ``feats[mask_key]``),
            ``bboxes`` and, with pose outputs, ``keypoints`` and
            ``heatmaps``.
        """
        if query_mask is None:
            query_mask = query.new_ones(query.shape[0], query.shape[1], 1)
        feat, feat_pos = feats[self.feat_key], feats_pe[self.feat_key]
        joints = None
        if self.joint_embed is not None:
            joints = self.joint_embed.unsqueeze(1) + query.unsqueeze(2)
        joints_pos = None
        if self.joint_pos_embed is not None:
            joints_pos = (
                self.joint_pos_embed.unsqueeze(1) + query_pos.unsqueeze(2))
        for block in self.blocks:
            query, joints = block(joints, joints_pos, query, query_pos, feat,
                                  feat_pos, query_mask)
        pixels = self.head.pixel_proj(feats[self.mask_key])
        outputs = self.head(query, joints, pixels)
        return dict(
            query=query,
            joints=joints if self.output_joints else None,
            **outputs)
