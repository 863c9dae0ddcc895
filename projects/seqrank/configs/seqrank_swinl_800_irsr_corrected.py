# SeqRank, Swin-L, IRSR, corrected release (assets/seqrank_results/
# irsr_swinL_correct; SA-SOR 0.584, SOR 0.828, MAE 6.09): the FPN
# neck instead of FrcPN and 2 ranking blocks instead of 6, retrained with the
# same recipe.
_base_ = './seqrank_swinl_800_irsr.py'

model = dict(
    neck=dict(type='SORFPN'), rank_head=dict(ranker=dict(num_blocks=2)))
