# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""mmpretrain's Swin Transformer with its window attention through SDPA.

mmpretrain's :class:`~mmpretrain.models.utils.WindowMSA` computes
``softmax(q k^T * scale + bias [+ shift mask]) v`` step by step, keeping the
(windows, heads, N, N) attention matrix. The same attention is one call of
:func:`torch.nn.functional.scaled_dot_product_attention`, which fuses the
steps. Parameters, buffers and state-dict names are unchanged, so
checkpoints of ``mmpretrain.SwinTransformer`` load as they are.
"""
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmpretrain.models import SwinTransformer
from mmpretrain.models.utils import WindowMSA
from torch import Tensor


class SDPAWindowMSA(WindowMSA):
    """:class:`WindowMSA` computed with ``scaled_dot_product_attention``."""

    def forward(self, x: Tensor, mask: Tensor = None) -> Tensor:
        """Attend within each window.

        Args:
            x (Tensor): (num_windows * B, N, C) window tokens.
            mask (Tensor, optional): (num_windows, N, N) additive mask of
                the shifted windows.

        Returns:
            Tensor: (num_windows * B, N, C).
        """
        batch_windows, num, channels = x.shape
        qkv = self.qkv(x).reshape(batch_windows, num, 3, self.num_heads,
                                  channels // self.num_heads).permute(
                                      2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B * nW, heads, N, d)
        bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(num, num, -1)
        bias = bias.permute(2, 0, 1).unsqueeze(0)  # 1, heads, N, N
        if mask is not None:
            num_windows = mask.shape[0]
            bias = bias + mask.unsqueeze(1)  # nW, heads, N, N
            q, k, v = (t.unflatten(0, (-1, num_windows)) for t in (q, k, v))
        dropout = self.attn_drop.p if self.training else 0.0
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias.to(q.dtype),
            dropout_p=dropout,
            scale=self.scale)
        out = out.reshape(batch_windows, self.num_heads, num, -1)
        out = out.transpose(1, 2).reshape(batch_windows, num, channels)
        return self.proj_drop(self.proj(out))


@MODELS.register_module()
class SDPASwinTransformer(SwinTransformer):
    """``mmpretrain.SwinTransformer`` whose window attention uses SDPA.

    Takes the same arguments and has the same state dict; every
    :class:`WindowMSA` becomes a :class:`SDPAWindowMSA` (same parameters,
    fused attention).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for module in self.modules():
            if type(module) is WindowMSA:
                # same state, only ``forward`` differs
                module.__class__ = SDPAWindowMSA
