# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Make the QAGNet parity fixtures by running the authors' own code.

Runs ``github:EricDengbowen/QAGNet`` (detectron2 + Mask2Former) on the CPU:
micro, random-weight variants of the released architecture (MSDeformAttn
pixel decoder with 1 encoder layer, 9 masked-attention decoder layers,
C = 32, 4 heads, 8 queries, the tri-tiered nested graph with 3 final
heads), keeping the top-5 queries at inference as Swin-L keeps its top 100
of 200:

- ``r50``: a ResNet-50 at 1/8 width (stem 8, res2 32 channels), 2 graph
  layers (the released setting);
- ``swin``: a Swin (embed 8, depths 1-1-2-1, window 7), 3 graph layers
  (so that every rule of the graph's short connections runs).

On a fixed batch of two images of different sizes it saves

- ``qagnet_micro_<variant>_d2.pth``: the reference checkpoint
  (``{"model": state_dict}``, detectron2 format, frozen-BN statistics
  randomised);
- ``qagnet_micro_<variant>_outputs.pth``: the inputs, the backbone and
  pixel-decoder features, the nine decoder query features, the decoder
  logits (every layer) and the last layer's masks, the final and side
  saliency scores and the final instances (``instance_inference``:
  scores, rank scores, mask probabilities at the original size);
- ``qagnet_<r50|swinb|swinl>_state_dict_shapes.json``: key -> shape of
  the released models (built from the authors' R50, Swin-B and Swin-L
  configs, not run), the key sets their checkpoints hold;
- ``qagnet_rank_loss_cases.pth``: random cases of the reference's
  pairwise rank loss (``SetCriterion.rankloss_compute``, >= 2 objects) and
  of its batch average ``loss_ranks``.

Nothing here is imported by the package or the tests; the reference code is
not vendored. Set it up outside the repository (see
``/work/shared/ENVIRONMENT.md`` of this project for the recipe)::

    git -C QAGNET_MIRROR archive HEAD mask2former configs | tar -x -C REFSRC
    git -C DETECTRON2_MIRROR archive HEAD detectron2 projects/DeepLab \\
        projects/PointRend | tar -x -C REFSRC
    pip install --no-deps --target REFDEPS fvcore==0.1.5.post20221221 \\
        iopath==0.1.9 portalocker yacs==0.1.8 omegaconf==2.3.0 \\
        antlr4-python3-runtime==4.9.3 cloudpickle termcolor tabulate \\
        pycocotools timm==0.9.0 pyyaml tqdm scipy opencv-python-headless \\
        matplotlib cycler kiwisolver pyparsing fonttools contourpy \\
        python-dateutil six packaging
    PYTHONPATH=REFDEPS:REFSRC python projects/qagnet/tools/\\
        make_parity_fixtures.py --out tests/data/qagnet --key-sets

The reference hard-codes CUDA in its graph adjacency matrices and rank loss
(``.to("cuda")``, ``.cuda()``); this script maps those calls to the CPU
while it runs. Its compiled MSDeformAttn op is absent, so the reference
takes its own PyTorch fallback, as on any CPU.
"""
import argparse
import json
import os
import os.path as osp
import sys
import types

import torch

VARIANTS = {
    'r50':
    dict(
        backbone=[
            'MODEL.BACKBONE.NAME', 'build_resnet_backbone',
            'MODEL.RESNETS.STEM_OUT_CHANNELS', 8,
            'MODEL.RESNETS.RES2_OUT_CHANNELS', 32,
            'MODEL.RESNETS.WIDTH_PER_GROUP', 8
        ],
        graph_layers=2),
    'swin':
    dict(
        backbone=[
            'MODEL.BACKBONE.NAME', 'D2SwinTransformer', 'MODEL.SWIN.EMBED_DIM',
            8, 'MODEL.SWIN.DEPTHS', [1, 1, 2, 1], 'MODEL.SWIN.NUM_HEADS',
            [1, 2, 4,
             8], 'MODEL.SWIN.WINDOW_SIZE', 7, 'MODEL.SWIN.PRETRAIN_IMG_SIZE',
            224, 'MODEL.SWIN.DROP_PATH_RATE', 0.0
        ],
        graph_layers=3),
}
MICRO = [
    'MODEL.SEM_SEG_HEAD.CONVS_DIM', 32, 'MODEL.SEM_SEG_HEAD.MASK_DIM', 32,
    'MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS', 1,
    'MODEL.MASK_FORMER.HIDDEN_DIM', 32, 'MODEL.MASK_FORMER.NHEADS', 4,
    'MODEL.MASK_FORMER.DIM_FEEDFORWARD', 64,
    'MODEL.MASK_FORMER.NUM_OBJECT_QUERIES', 8, 'MODEL.RELATION_HEAD.UNIT_NUMS',
    3, 'TEST.DETECTIONS_PER_IMAGE', 5
]
# the released models' configs (relative to the reference's configs/coco/
# instance-segmentation), as plain_test.py lists them
RELEASED = {
    'r50': 'maskformer2_R50_bs16_50ep.yaml',
    'swinb': 'swin/maskformer2_swin_base_IN21k_384_bs16_50ep.yaml',
    'swinl': 'swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml',
}
IMAGE_SIZES = [(64, 96), (56, 80)]  # (height, width) of the network inputs
ORIGINAL_SIZES = [(128, 192), (100, 150)]  # output (height, width)
SEED = 0
NUM_LOSS_CASES = 200


def patch_cuda() -> None:
    """Map the reference's hard-coded CUDA transfers to the CPU and let its
    MSDeformAttn fall back to PyTorch (its compiled op is not built)."""
    to = torch.Tensor.to

    def to_cpu(self, *args, **kwargs):
        args = tuple('cpu' if a == 'cuda' else a for a in args)
        return to(self, *args, **kwargs)

    torch.Tensor.to = to_cpu
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    # neither are detectron2's C++ ops (imported by its COCO evaluation,
    # never called here)
    for name in ('MultiScaleDeformableAttention', 'detectron2._C'):
        sys.modules.setdefault(name, types.ModuleType(name))


def reference_cfg(config: str, opts: list):
    """The reference's config ``config`` (under configs/coco/
    instance-segmentation) with ``opts`` merged."""
    import mask2former  # noqa: F401  (registers the reference modules)
    from detectron2.config import get_cfg
    from detectron2.projects.deeplab import add_deeplab_config
    cfg = get_cfg()
    add_deeplab_config(cfg)
    mask2former.add_maskformer2_config(cfg)
    cfg.merge_from_file(
        osp.join(
            osp.dirname(mask2former.__file__), '..', 'configs', 'coco',
            'instance-segmentation', config))
    cfg.merge_from_list(['MODEL.DEVICE', 'cpu', 'MODEL.WEIGHTS', ''] + opts)
    return cfg


def build_reference(variant: str):
    """Build a micro reference QAGNet with random weights."""
    from detectron2.modeling import build_model
    cfg = reference_cfg(
        RELEASED['r50'], MICRO + VARIANTS[variant]['backbone'] +
        ['MODEL.RELATION_HEAD.LAYER_NUM', VARIANTS[variant]['graph_layers']])
    torch.manual_seed(SEED)
    model = build_model(cfg)
    randomise_frozen_bn(model)
    return model.eval(), cfg


def released_key_sets(out_dir: str) -> None:
    """Key -> shape of the released models' state dicts."""
    from detectron2.modeling import build_model
    for name, config in RELEASED.items():
        model = build_model(reference_cfg(config, []))
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        with open(
                osp.join(out_dir, f'qagnet_{name}_state_dict_shapes.json'),
                'w') as f:
            json.dump(shapes, f, indent=0, sort_keys=True)
        print(name, len(shapes), 'tensors')
        del model


def randomise_frozen_bn(model) -> None:
    """Random frozen-BN statistics, so that the conversion of each is
    tested (the defaults are an identity)."""
    from detectron2.layers import FrozenBatchNorm2d
    gen = torch.Generator().manual_seed(SEED)
    for module in model.modules():
        if isinstance(module, FrozenBatchNorm2d):
            n = module.weight.numel()
            module.weight.copy_(0.5 + torch.rand(n, generator=gen))
            module.bias.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_var.copy_(0.5 + torch.rand(n, generator=gen))


def fixed_images():
    """Two smooth random RGB images of IMAGE_SIZES, uint8 (3, H, W)."""
    gen = torch.Generator().manual_seed(SEED)
    images = []
    for h, w in IMAGE_SIZES:
        coarse = torch.rand((1, 3, h // 8, w // 8), generator=gen)
        image = torch.nn.functional.interpolate(
            coarse, size=(h, w), mode='bilinear')[0]
        noise = 0.1 * torch.rand(image.shape, generator=gen)
        images.append(
            ((image + noise).clamp(0, 1) * 255).round().to(torch.uint8))
    return images


def run_variant(variant: str, out_dir: str) -> None:
    """Run one micro variant and save its checkpoint and outputs."""
    model, _ = build_reference(variant)
    images = fixed_images()
    batch = [
        dict(image=img.float(), height=h, width=w)
        for img, (h, w) in zip(images, ORIGINAL_SIZES)
    ]
    captured = {}

    def keep(name, inputs_too=False):

        def hook(module, inputs, output):
            captured.setdefault(name, inputs if inputs_too else output)

        return hook

    head = model.sem_seg_head
    model.backbone.register_forward_hook(keep('backbone'))
    head.register_forward_hook(keep('head'))
    decoder = head.predictor
    for i, ffn in enumerate(decoder.transformer_ffn_layers):
        ffn.register_forward_hook(keep(f'query{i}'))
    # the pixel decoder's outputs are the predictor's inputs
    decoder.register_forward_hook(keep('pixel', inputs_too=True))
    with torch.no_grad():
        results = model(batch)
    out, scores, side_scores = captured['head']
    multi_scale, mask_features = captured['pixel'][:2]
    fixture = dict(
        images=images,
        original_sizes=torch.tensor(ORIGINAL_SIZES),
        backbone={
            k: v.clone()
            for k, v in captured['backbone'].items()
        },
        multi_scale_features=[f.clone() for f in multi_scale],
        mask_features=mask_features.clone(),
        # (B, Q, C) per decoder layer (the reference keeps Q, B, C)
        queries=[
            captured[f'query{i}'].transpose(0, 1).clone()
            for i in range(len(decoder.transformer_ffn_layers))
        ],
        pred_logits=[a['pred_logits']
                     for a in out['aux_outputs']] + [out['pred_logits']],
        pred_masks=out['pred_masks'],
        rank_scores=torch.stack([s[:, 0] for s in scores]),
        side_rank_scores=[
            torch.stack([s[:, 0] for s in layer]) for layer in side_scores
        ],
        results=[
            dict(
                scores=r['instances'].scores,
                rank_scores=r['instances'].pred_rank[:, 0],
                mask_probs=r['instances'].pred_masks) for r in results
        ])
    name = f'qagnet_micro_{variant}'
    torch.save({'model': model.state_dict()},
               osp.join(out_dir, f'{name}_d2.pth'))
    torch.save(fixture, osp.join(out_dir, f'{name}_outputs.pth'))
    print(name, 'instances per image:', [len(r['instances']) for r in results],
          'parameters:', sum(p.numel() for p in model.parameters()))


def rank_loss_cases(out_dir: str) -> None:
    """Random cases of the reference's rank loss."""
    from mask2former.modeling.criterion import SetCriterion
    criterion = SetCriterion.__new__(SetCriterion)  # the loss needs no state
    gen = torch.Generator().manual_seed(SEED)
    pairs = []
    for _ in range(NUM_LOSS_CASES):
        n = int(torch.randint(2, 10, (1, ), generator=gen))
        scores = 3 * torch.randn(n, 1, generator=gen)
        if bool(torch.rand(1, generator=gen) < 0.5):  # distinct ranks
            ranks = torch.randperm(n, generator=gen)
        else:  # ties
            ranks = torch.randint(0, 4, (n, ), generator=gen)
        loss = criterion.rankloss_compute(ranks, scores)
        pairs.append(dict(ranks=ranks, scores=scores, loss=loss))
    # a batch: matched query / target indices, per-image scores of all
    # queries (Q = 6), the batch average
    batches = []
    for _ in range(20):
        targets, indices, scores = [], [], []
        for _ in range(3):
            n = int(torch.randint(2, 6, (1, ), generator=gen))
            queries = torch.randperm(6, generator=gen)[:n].sort().values
            gts = torch.randperm(n, generator=gen)
            targets.append(dict(ranking=torch.randperm(n, generator=gen)))
            indices.append((queries, gts))
            scores.append(torch.randn(6, 1, generator=gen))
        loss = criterion.loss_ranks(None, targets, indices, None,
                                    scores)['loss_ranks']
        batches.append(
            dict(
                ranks=[t['ranking'] for t in targets],
                indices=indices,
                scores=scores,
                loss=loss))
    torch.save(
        dict(pairs=pairs, batches=batches),
        osp.join(out_dir, 'qagnet_rank_loss_cases.pth'))
    print('rank loss cases:', len(pairs), 'pairs,', len(batches), 'batches')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='tests/data/qagnet')
    parser.add_argument(
        '--variants', nargs='+', default=sorted(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        '--key-sets',
        action='store_true',
        help='also build the released R50 / Swin-B / Swin-L models and '
        'save their key sets')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    patch_cuda()
    for variant in args.variants:
        run_variant(variant, args.out)
    rank_loss_cases(args.out)
    if args.key_sets:
        released_key_sets(args.out)


if __name__ == '__main__':
    main()
