# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .attention import ProjAttention
from .mlp_mixer import TokenChannelMixer
from .norm_mlp import NormedMLP
from .positional_encoding import (LearnableGridPositionalEncoding,
                                  RandomFourierPositionalEncoding,
                                  SineGridPositionalEncoding)
from .post_norm_layer import PostNormAttnLayer

__all__ = [
    'ProjAttention', 'TokenChannelMixer', 'NormedMLP', 'PostNormAttnLayer',
    'LearnableGridPositionalEncoding', 'RandomFourierPositionalEncoding',
    'SineGridPositionalEncoding'
]
