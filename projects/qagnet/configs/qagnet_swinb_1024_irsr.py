# QAGNet, Swin-B, IRSR, 1024 x 1024 (GPU): the authors' Swin-B model
# (configs/_base_/qagnet_swin.py) with the R50 config's data and recipe.
#   python tools/train.py projects/qagnet/configs/qagnet_swinb_1024_irsr.py
_base_ = ['./qagnet_r50_1024_irsr.py', './_base_/qagnet_swin.py']
model = {{_base_.qagnet_swinb}}
