# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .attention import ProjAttention, SDPAMultiheadAttention, use_sdpa
from .mlp_mixer import TokenChannelMixer
from .norm_mlp import NormedMLP
from .positional_encoding import (LearnableGridPositionalEncoding,
                                  RandomFourierPositionalEncoding,
                                  SineGridPositionalEncoding)
from .weight_init import xavier_init_linears

__all__ = [
    'ProjAttention', 'TokenChannelMixer', 'NormedMLP',
    'LearnableGridPositionalEncoding', 'RandomFourierPositionalEncoding',
    'SineGridPositionalEncoding', 'xavier_init_linears',
    'SDPAMultiheadAttention', 'use_sdpa'
]
