# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Pose-Aware Interaction (PAI) module of PoseSOR.

Every kept instance query is expanded into joint queries (a learned joint
embedding plus the instance query). Each block lets the joint and instance
tokens of one instance read the image features (gated by an
instance-specific spatial map) and interact among themselves, then lets the
instances interact with each other and with pooled scene tokens through a
sub-pose token that summarises the joints. A shared head predicts keypoints,
per-joint heatmaps, refined masks and boxes before the first block and after
every block.

The reference's attention overwrites the empty rows of its mask argument in
place (so that they attend everywhere). Every mask here is built afresh for
a single attention call, so that side effect never reaches another
computation, and :class:`~posesor.models.layers.ProjAttention`, which treats
empty rows the same way without touching its input, is equivalent.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule, xavier_init
from torch import Tensor, nn

from ..layers.norm_mlp import NormedMLP
from ..layers.post_norm_layer import PostNormAttnLayer

#: Per-joint outputs of the keypoint classifier: x, y, visibility logits.
KEYPOINT_CHANNELS = 3
#: Box regression outputs: cx, cy, h, w logits.
BOX_CHANNELS = 4
#: Hidden width of the joint-axis MLPs, in multiples of the joint count.
JOINT_MLP_RATIO = 4


def _xavier_linear_conv(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for all Linear/Conv2d."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            xavier_init(m, distribution='uniform')


def _pair_keep_mask(token_mask: Tensor) -> Tensor:
    """Keep-mask of token pairs where both tokens are valid.

    Args:
        token_mask (Tensor): (B, N, 1), 1 for valid tokens.

    Returns:
        Tensor: (B, 1, N, N) keep-mask for :class:`ProjAttention`.
    """
    return (token_mask @ token_mask.transpose(-1, -2)).unsqueeze(1)


class PoseAwareInteractionHead(nn.Module):
    """Prediction head shared by all PAI stages.

    Args:
        embed_dims (int): Token and pixel channels C.
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.pixel_proj = nn.Conv2d(embed_dims, embed_dims, 1)
        self.mask_embed = nn.Linear(embed_dims, embed_dims)
        self.heatmap_embed = nn.Linear(embed_dims, embed_dims)
        self.bbox_reg = nn.Linear(embed_dims, BOX_CHANNELS)
        self.keypoint_cls = nn.Linear(embed_dims, KEYPOINT_CHANNELS)
        _xavier_linear_conv(self)

    def forward(self, query: Tensor, joints: Tensor,
                pixels: Tensor) -> Dict[str, Tensor]:
        """Predict from instance and joint tokens.

        Args:
            query (Tensor): (B, n, C) instance tokens.
            joints (Tensor): (B, n, K, C) joint tokens.
            pixels (Tensor): (B, C, H, W) output of :attr:`pixel_proj` on the
                mask feature map.

        Returns:
            dict[str, Tensor]: Logits: ``keypoints`` (B, n, K, 3) (x, y,
            visibility), ``heatmaps`` (B, n, K, H, W), ``masks``
            (B, n, H, W) and ``bboxes`` (B, n, 4) (cx, cy, h, w).
        """
        heatmaps = torch.einsum('bnkc,bchw->bnkhw', self.heatmap_embed(joints),
                                pixels)
        masks = torch.einsum('bnc,bchw->bnhw', self.mask_embed(query), pixels)
        return dict(
            keypoints=self.keypoint_cls(joints),
            heatmaps=heatmaps,
            masks=masks,
            bboxes=self.bbox_reg(query))


class PoseAwareInteractionBlock(nn.Module):
    """One PAI block: joint-level then actor-level interaction.

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
        if use_joint_interaction:
            self.joint_layer = PostNormAttnLayer(
                embed_dims,
                num_heads,
                feedforward_channels,
                with_cross_attn=True,
                attn_drop=attn_drop,
                ffn_drop=ffn_drop)
        if self.use_spatial_gating:
            self.gate_proj = nn.Linear(embed_dims, embed_dims)
            _xavier_linear_conv(self.gate_proj)
        if use_sub_pose:
            # PyTorch's default init here, as in the reference.
            self.sub_pose_mlp = NormedMLP(num_joints,
                                          JOINT_MLP_RATIO * num_joints, 1)
            self.sub_pose_norm = nn.LayerNorm(embed_dims)
        if use_scene_tokens:
            self.scene_norm = nn.LayerNorm(embed_dims)
        self.actor_layer = PostNormAttnLayer(
            embed_dims,
            num_heads,
            feedforward_channels,
            with_cross_attn=False,
            attn_drop=attn_drop,
            ffn_drop=ffn_drop)

    def _joint_interaction(self, joints: Tensor, joints_pos: Tensor,
                           query: Tensor, query_pos: Tensor, feat: Tensor,
                           feat_pos: Tensor,
                           query_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Joint and instance tokens of each instance read the features.

        Shapes as in :meth:`forward`. Returns the updated (joints, query).
        """
        B, N, K, C = joints.shape
        keys = feat.flatten(2).transpose(1, 2)  # B, HW, C
        keys_pos = feat_pos.flatten(2).transpose(1, 2)  # B, HW, C
        if self.use_spatial_gating:
            gate = torch.sigmoid(self.gate_proj(query) @ keys.transpose(1, 2))
            inst_keys = keys.unsqueeze(1) * gate.unsqueeze(-1)  # B,N,HW,C
        else:
            inst_keys = keys.unsqueeze(1).expand(B, N, -1, -1)
        inst_keys_pos = keys_pos.unsqueeze(1).expand(B, N, -1, -1)

        tokens = torch.cat([joints, query.unsqueeze(2)], dim=2)
        tokens_pos = torch.cat([joints_pos, query_pos.unsqueeze(2)], dim=2)
        # All K + 1 tokens of an instance share its validity, so the mask
        # is all-ones for kept instances and all-zeros (= attend all) for
        # padding; it is kept for faithfulness to the reference.
        inst_mask = query_mask.flatten(0, 1).unsqueeze(1).expand(-1, K + 1, 1)
        tokens = self.joint_layer(
            tokens.flatten(0, 1),
            tokens_pos.flatten(0, 1),
            key=inst_keys.flatten(0, 1),
            key_pos=inst_keys_pos.flatten(0, 1),
            self_attn_mask=_pair_keep_mask(inst_mask)).unflatten(0, (B, N))
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
                                                    query_pos, feat, feat_pos,
                                                    query_mask)
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
            self_attn_mask=_pair_keep_mask(torch.cat(token_mask, dim=1)))
        return query + tokens[:, :N], joints


@MODELS.register_module()
class PoseAwareInteraction(BaseModule):
    """Pose-Aware Interaction (PAI) module.

    Args:
        embed_dims (int): Token channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        num_joints (int): Joints K per instance. Defaults to 17.
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
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 num_joints: int = 17,
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
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_joints = num_joints
        self.mask_key = mask_key
        self.feat_key = feat_key
        self.joint_embed = nn.Parameter(torch.zeros(1, num_joints, embed_dims))
        if num_blocks > 0:
            self.joint_pos_embed = nn.Parameter(
                torch.randn(1, num_joints, embed_dims))
        else:
            self.joint_pos_embed = None
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
        self.head = PoseAwareInteractionHead(embed_dims)

    def forward(
        self,
        q: Tensor,
        qpe: Tensor,
        feats: Dict[str, Tensor],
        feats_pe: Dict[str, Tensor],
        q_mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor], Tensor, Tensor, Dict[str, Tensor],
               List[Dict[str, Tensor]]]:
        """Run PAI on the kept instance queries.

        Args:
            q (Tensor): (B, n, C) kept instance queries (padded).
            qpe (Tensor): (B, n, C) their positional embeddings.
            feats (dict[str, Tensor]): Neck maps (B, C, Hi, Wi) by key
                ('res2'..'res5').
            feats_pe (dict[str, Tensor]): Positional encodings of ``feats``.
            q_mask (Tensor, optional): (B, n, 1) float, 1 for kept instances,
                0 for padding. Defaults to all ones.

        Returns:
            tuple: ``(pose, pose_pe, pai, pai_pe, out, aux)`` with the joint
            tokens ``pose`` (B, n, K, C) and their positional embeddings
            ``pose_pe`` (B, n, K, C; None when ``num_blocks=0``), the
            instance tokens ``pai`` (B, n, C) and ``pai_pe`` (= ``qpe``), the
            last head output ``out`` (see
            :meth:`PoseAwareInteractionHead.forward`; ``heatmaps``/``masks``
            at the resolution of ``feats[mask_key]``) and the earlier head
            outputs ``aux`` (``num_blocks`` dicts, first one before any
            block).
        """
        if q_mask is None:
            q_mask = q.new_ones(q.shape[0], q.shape[1], 1)
        pixels = self.head.pixel_proj(feats[self.mask_key])
        feat, feat_pos = feats[self.feat_key], feats_pe[self.feat_key]

        joints = self.joint_embed.unsqueeze(1) + q.unsqueeze(2)
        joints_pos = None
        if self.joint_pos_embed is not None:
            joints_pos = self.joint_pos_embed.unsqueeze(1) + qpe.unsqueeze(2)

        predictions = [self.head(q, joints, pixels)]
        for block in self.blocks:
            q, joints = block(joints, joints_pos, q, qpe, feat, feat_pos,
                              q_mask)
            predictions.append(self.head(q, joints, pixels))
        return joints, joints_pos, q, qpe, predictions[-1], predictions[:-1]
