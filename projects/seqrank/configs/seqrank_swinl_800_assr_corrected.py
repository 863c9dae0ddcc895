# SeqRank, Swin-L, ASSR, corrected release (assets/seqrank_results/
# assr_swinL_correct; SA-SOR 0.680, SOR 0.873, MAE 7.45): the FPN
# neck instead of FrcPN and 2 ranking blocks instead of 6, retrained with the
# same recipe.
_base_ = './seqrank_swinl_800_assr.py'

model = dict(
    neck=dict(type='SORFPN'), rank_head=dict(ranker=dict(num_blocks=2)))
