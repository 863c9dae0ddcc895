# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Pose-Driven Ranking (PDR) module of PoseSOR.

From each instance's joint tokens, PDR derives directional cues (an MLP
across the joint axis gives a fixed number of direction tokens) and
coordinate cues (one token per joint). Each direction attends to the
coordinate cues of all instances plus a learned background representation,
which yields where the instance "points to". The directions are fused by an
MLP-mixer, related pairwise with every other instance by a shared MLP, and
the head predicts the rank logits and the "next target" partition map (the
instance the attention shifts to next; the background after the last).
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from posesor.utils.misc import MASKED_LOGIT
from ..layers.mlp_mixer import TokenChannelMixer
from ..layers.norm_mlp import NormedMLP
from ..layers.weight_init import xavier_init_linears

#: Hidden width of the joint-axis and direction-axis MLPs, in multiples of
#: their input size.
AXIS_MLP_RATIO = 4


class PoseDrivenRankingHead(nn.Module):
    """PDR head: rank logits and next-target partition maps.

    Args:
        embed_dims (int): Token and pixel channels C.
        max_rank_level (int): Rank classes (0 = not salient).
    """

    def __init__(self, embed_dims: int, max_rank_level: int) -> None:
        super().__init__()
        self.pixel_proj = nn.Conv2d(embed_dims, embed_dims, 1)
        self.next_embed = nn.Linear(embed_dims, embed_dims)
        self.rank_cls = nn.Linear(embed_dims, max_rank_level)

    def forward(self, query: Tensor, next_query: Tensor,
                feat: Tensor) -> Dict[str, Tensor]:
        """Predict ranks and partitions.

        Args:
            query (Tensor): (B, n, C) ranking tokens.
            next_query (Tensor): (B, n, C) next-target tokens.
            feat (Tensor): (B, C, H, W) mask feature map.

        Returns:
            dict[str, Tensor]: Logits ``partitions`` (B, n, H, W) and
            ``ranks`` (B, n, max_rank_level).
        """
        pixels = self.pixel_proj(feat)
        partitions = torch.einsum('bnc,bchw->bnhw',
                                  self.next_embed(next_query), pixels)
        return dict(partitions=partitions, ranks=self.rank_cls(query))


@MODELS.register_module()
class PoseDrivenRanking(BaseModule):
    """Pose-Driven Ranking (PDR) module.

    Args:
        embed_dims (int): Token channels C. Defaults to 256.
        feedforward_channels (int): Hidden channels of the channel MLPs of
            the direction mixer and of the pairwise MLP. Defaults to 2048.
        num_joints (int): Joints K per instance (the dataset's keypoints).
        num_directions (int): Directional cues per instance. Defaults to 8.
        max_rank_level (int): Rank classes. Defaults to 20.
        mask_key (str): Feature map for the partitions and the background
            representation. Defaults to 'res3' (stride 8).
        use_reasoning (bool): Run the directional/pairwise reasoning; False
            applies the head to the PAI tokens directly (the reference's
            ablation ``pdr_id8``). Defaults to True.
        use_directions (bool): Use the directional cues; False relates the
            instance tokens directly (the reference's ablation ``pdr_ri``).
            Defaults to True.
        use_pairwise (bool): Average a shared MLP over all instance pairs;
            False keeps the per-instance fusion only (the reference's
            ablation ``pdr_dcl``). Defaults to True.
        mask_padding (bool): Exclude padded instances (``q_mask`` = 0) from
            the background mean, the direction-to-coordinate attention and
            the pairwise mean. The reference includes them, so its outputs
            depend on how much a batch is padded; both agree when nothing is
            padded (e.g. batch size 1 at inference). Set False for the
            reference's behaviour. Defaults to True.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 feedforward_channels: int = 2048,
                 *,
                 num_joints: int,
                 num_directions: int = 8,
                 max_rank_level: int = 20,
                 mask_key: str = 'res3',
                 use_reasoning: bool = True,
                 use_directions: bool = True,
                 use_pairwise: bool = True,
                 mask_padding: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if use_reasoning and not (use_directions or use_pairwise):
            raise ValueError('PoseDrivenRanking needs use_directions or '
                             'use_pairwise when use_reasoning=True')
        self.mask_key = mask_key
        self.use_reasoning = use_reasoning
        self.use_directions = use_directions and use_reasoning
        self.use_pairwise = use_pairwise and use_reasoning
        self.mask_padding = mask_padding
        C = embed_dims
        if self.use_directions:
            self.joints_to_directions = NormedMLP(num_joints,
                                                  AXIS_MLP_RATIO * num_joints,
                                                  num_directions)
            self.direction_cue_mlp = NormedMLP(C, C, C)
            self.coord_cue_mlp = NormedMLP(C, C, C)
            self.bg_coord_embed = nn.Parameter(torch.rand(1, num_joints, C))
            self.bg_proj = nn.Linear(C, C)
            self.direction_mixer = TokenChannelMixer(
                num_tokens=num_directions,
                hidden_tokens=AXIS_MLP_RATIO * num_directions,
                embed_dims=C,
                hidden_dims=feedforward_channels,
                out_tokens=1)
            self.cue_fuse = nn.Linear(2 * C, C)
        if self.use_pairwise:
            self.pair_mlp = NormedMLP(2 * C, feedforward_channels, C)
        if use_reasoning:
            self.query_proj = nn.Linear(3 * C, C)
            self.next_proj = nn.Linear(3 * C, C)
        self.head = PoseDrivenRankingHead(C, max_rank_level)

    def init_weights(self) -> None:
        """Xavier-uniform weights and zero biases for every linear map."""
        super().init_weights()
        xavier_init_linears(self)

    def _shift_cues(self, q: Tensor, pose: Tensor, feat: Tensor,
                    q_mask: Tensor) -> Tensor:
        """Where each instance's pose points to, one token per instance.

        Args:
            q (Tensor): (B, n, C) instance tokens.
            pose (Tensor): (B, n, K, C) joint tokens.
            feat (Tensor): (B, C, H, W) feature map.
            q_mask (Tensor): (B, n, 1) validity of the instances.

        Returns:
            Tensor: (B, n, C).
        """
        B, N, K, C = pose.shape
        directions = self.joints_to_directions(pose.transpose(-1, -2))
        directions = self.direction_cue_mlp(directions.transpose(-1, -2))
        coords = torch.cat([
            self.coord_cue_mlp(pose),
            self.bg_coord_embed.unsqueeze(0).expand(B, -1, -1, -1)
        ],
                           dim=1)  # B, n+1, K, C

        scene = F.adaptive_avg_pool2d(feat, 1).flatten(1).unsqueeze(1)
        if self.mask_padding:
            mean_q = (q * q_mask).sum(
                1, keepdim=True) / q_mask.sum(
                    1, keepdim=True).clamp(min=1.0)
        else:
            mean_q = q.mean(dim=1, keepdim=True)
        background = self.bg_proj(scene - mean_q)  # B, 1, C

        # (B, n, d, C) x (B, 1, C, (n+1)K): each direction against every
        # instance's (and the background's) coordinate cues.
        logits = directions @ coords.flatten(1, 2).transpose(1, 2).unsqueeze(1)
        if self.mask_padding:
            key_mask = torch.cat([q_mask, q_mask.new_ones(B, 1, 1)], dim=1)
            key_mask = key_mask.expand(B, N + 1, K).reshape(B, 1, 1, -1)
            logits = logits + (1.0 - key_mask) * MASKED_LOGIT
        values = torch.cat([q, background], dim=1).unsqueeze(2) + coords
        targets = logits.softmax(-1) @ values.flatten(1, 2).unsqueeze(1)
        return self.direction_mixer(targets).squeeze(2)  # B, n, C

    def _pairwise(self, x: Tensor, q_mask: Tensor) -> Tensor:
        """Mean over partners j of ``pair_mlp([x_i, x_j])``.

        Args:
            x (Tensor): (B, n, C).
            q_mask (Tensor): (B, n, 1) validity of the instances.

        Returns:
            Tensor: (B, n, C).
        """
        N = x.shape[1]
        pairs = torch.cat([
            x.unsqueeze(2).expand(-1, -1, N, -1),
            x.unsqueeze(1).expand(-1, N, -1, -1)
        ],
                          dim=-1)
        relations = self.pair_mlp(pairs)  # B, n, n, C
        if not self.mask_padding:
            return relations.mean(dim=2)
        partner = q_mask.unsqueeze(1)  # B, 1, n, 1
        return (relations * partner).sum(2) / partner.sum(2).clamp(min=1.0)

    def forward(self,
                query: Tensor,
                joints: Tensor,
                feats: Dict[str, Tensor],
                query_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Rank the kept instances.

        Args:
            query (Tensor): (B, n, C) PAI instance tokens.
            joints (Tensor): (B, n, K, C) PAI joint tokens.
            feats (dict[str, Tensor]): Neck maps (B, C, Hi, Wi) by key.
            query_mask (Tensor, optional): (B, n, 1) float, 1 for kept
                instances, 0 for padding. Defaults to all ones.

        Returns:
            dict[str, Tensor]: See :meth:`PoseDrivenRankingHead.forward`
            (``partitions`` at the resolution of ``feats[mask_key]``).
        """
        q, pose = query, joints
        feat = feats[self.mask_key]
        if not self.use_reasoning:
            return self.head(q, q, feat)
        if query_mask is None:
            query_mask = q.new_ones(q.shape[0], q.shape[1], 1)
        if self.use_directions:
            cues = self._shift_cues(q, pose, feat, query_mask)
            shared = self.cue_fuse(torch.cat([cues, q], dim=-1))
        else:
            cues, shared = None, q
        if self.use_pairwise:
            shared = self._pairwise(shared, query_mask)
        query = self.query_proj(
            torch.cat([q, q if cues is None else cues, shared], dim=-1))
        next_query = self.next_proj(
            torch.cat([query, query if cues is None else cues, shared],
                      dim=-1))
        return self.head(query, next_query, feat)
