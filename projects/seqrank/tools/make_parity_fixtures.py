# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Make the SeqRank parity fixtures by running the authors' own code.

Runs ``github:guanhuankang/SeqRank`` (detectron2) on the CPU: a micro,
random-weight variant of the released architecture (FrcPN or FPN neck,
3 Fovea Module blocks, 2 ranking blocks, C = 32, 10 queries, Swin embed 8,
depths 1-1-2-1),
a fixed batch of two 96 x 96 images, and saves

- ``seqrank_micro_<neck>_d2.pth``: the reference checkpoint
  (``{"model": state_dict}``, detectron2 format);
- ``seqrank_micro_<neck>_outputs.pth``: the inputs, intermediate outputs
  (backbone, neck, Fovea Module, the first ranking step) and the final
  results (masks, boxes, objectness, saliency per step).

Nothing here is imported by the package or the tests; the reference code is
not vendored. Set it up outside the repository (see
``/work/shared/ENVIRONMENT.md`` of this project for the recipe)::

    git -C SEQRANK_MIRROR archive HEAD seqrank configs | tar -x -C REFSRC
    git -C DETECTRON2_MIRROR archive HEAD detectron2 | tar -x -C REFSRC
    pip install --no-deps --target REFDEPS timm==0.9.0 \\
        fvcore==0.1.5.post20221221 iopath==0.1.9 portalocker yacs==0.1.8 \\
        omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 cloudpickle \\
        termcolor tabulate
    PYTHONPATH=REFDEPS:REFSRC python projects/seqrank/tools/\\
        make_parity_fixtures.py --out tests/data/seqrank
"""
import argparse
import math
import os
import os.path as osp

import numpy as np
import torch

# The micro variant; tests/data/seqrank/seqrank_micro_config.py is the same
# model in this project's config language.
MICRO = dict(
    swin_embed_dim=8,
    swin_depths=[1, 1, 2, 1],
    swin_heads=[1, 2, 4, 8],
    swin_window=7,
    embed_dim=32,
    num_heads=4,
    hidden_dim=64,
    num_queries=10,
    sis_blocks=3,
    srm_blocks=2,
)
IMAGE_SIZE = 96
ORIGINAL_SIZES = [(120, 100), (90, 110)]  # (height, width) per image
SEED = 0
# The ranking head's output bias shifts every ranking logit alike, so it
# changes where a sequence stops but not which queries it visits. It is set
# so that the stopping threshold (logit(0.001)) falls in the middle of the
# widest gap between the logits of the visited queries (away from both ends):
# some sequences then stop early (exercising the stopping rule), and every
# stop decision is far from the threshold.
STOP_LOGIT = math.log(0.001 / 0.999)


def build_reference(neck: str):
    """Build the reference SeqRank micro model with random weights."""
    import seqrank  # noqa: F401  (registers the reference modules)
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from configs.add_custom_config import add_custom_config

    cfg = get_cfg()
    add_custom_config(cfg)
    cfg.merge_from_file(
        osp.join(osp.dirname(seqrank.__file__), '..', 'configs', 'swinL.yaml'))
    m = MICRO
    cfg.merge_from_list([
        'MODEL.DEVICE', 'cpu', 'MODEL.WEIGHTS', '', 'MODEL.NECK.NAME', neck,
        'MODEL.SWIN.EMBED_DIM', m['swin_embed_dim'], 'MODEL.SWIN.DEPTHS',
        m['swin_depths'], 'MODEL.SWIN.NUM_HEADS', m['swin_heads'],
        'MODEL.SWIN.WINDOW_SIZE', m['swin_window'],
        'MODEL.SWIN.PRETRAIN_IMG_SIZE', 224, 'MODEL.SWIN.DROP_PATH_RATE', 0.0,
        'MODEL.BACKBONE.NUM_FEATURES',
        tuple(m['swin_embed_dim'] * 2**i
              for i in range(4)), 'MODEL.COMMON.EMBED_DIM', m['embed_dim'],
        'MODEL.COMMON.NUM_HEADS', m['num_heads'], 'MODEL.COMMON.HIDDEN_DIM',
        m['hidden_dim'], 'MODEL.COMMON.NUM_QUERIES', m['num_queries'],
        'MODEL.SIS_HEAD.NUM_BLOCKS', m['sis_blocks'],
        'MODEL.GAZE_SHIFT_HEAD.NUM_BLOCKS', m['srm_blocks']
    ])
    torch.manual_seed(SEED)
    model = build_model(cfg)
    return model.eval(), cfg


def set_stop_bias(model, batch) -> None:
    """Shift the ranking logits (see ``STOP_LOGIT``)."""
    chosen = []
    handle = model.gaze_shift.register_forward_hook(
        lambda m, i, o: chosen.extend(o[..., 0].amax(dim=1).tolist()))
    with torch.no_grad():
        model(batch)
        handle.remove()
        values = sorted(set(chosen))[1:-1]
        gaps = [(b - a, (a + b) / 2) for a, b in zip(values, values[1:])]
        _, middle = max(gaps)
        model.gaze_shift.head[2].bias += STOP_LOGIT - middle


def fixed_images() -> torch.Tensor:
    """Two smooth random RGB images, (2, 3, S, S) uint8."""
    gen = torch.Generator().manual_seed(SEED)
    coarse = torch.rand((2, 3, 12, 12), generator=gen)
    images = torch.nn.functional.interpolate(
        coarse, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bilinear')
    noise = 0.1 * torch.rand(images.shape, generator=gen)
    return ((images + noise).clamp(0, 1) * 255).round().to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='tests/data/seqrank')
    parser.add_argument('--necks', nargs='+', default=['FrcPN', 'FPN'])
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    images = fixed_images()
    for neck in args.necks:
        model, _ = build_reference(neck)
        batch = [
            dict(
                image=images[i].float(),
                height=h,
                width=w,
                image_name=f'image{i}')
            for i, (h, w) in enumerate(ORIGINAL_SIZES)
        ]
        set_stop_bias(model, batch)
        captured = {}

        def keep(name):

            def hook(module, inputs, output):
                if name not in captured:  # the first call only
                    captured[name] = output

            return hook

        model.backbone.register_forward_hook(keep('backbone'))
        model.neck.register_forward_hook(keep('neck'))
        model.instance_seg.register_forward_hook(keep('instance_seg'))
        model.gaze_shift.register_forward_hook(keep('gaze_shift'))
        with torch.no_grad():
            results = model(batch)
        q, qpe, out, _ = captured['instance_seg']
        fixture = dict(
            images=images,
            original_sizes=torch.tensor(ORIGINAL_SIZES),
            backbone={
                k: v.clone()
                for k, v in captured['backbone'].items()
            },
            neck={
                k: v.clone()
                for k, v in captured['neck'].items()
            },
            instance=dict(
                query=q,
                query_pos=qpe,
                masks=out['masks'],
                scores=out['scores'],
                bboxes=out['bboxes']),
            first_rank_logits=captured['gaze_shift'],
            results=[
                dict(
                    masks=torch.from_numpy(
                        np.stack(r['masks']) if r['masks'] else np.zeros(
                            (0, ) + ORIGINAL_SIZES[i])).bool(),
                    bboxes=torch.tensor(r['bboxes']).reshape(-1, 4),
                    scores=torch.tensor(r['scores']),
                    saliency=torch.tensor(r['saliency']),
                    num=r['num']) for i, r in enumerate(results)
            ])
        name = f'seqrank_micro_{neck.lower()}'
        torch.save({'model': model.state_dict()},
                   osp.join(args.out, f'{name}_d2.pth'))
        torch.save(fixture, osp.join(args.out, f'{name}_outputs.pth'))
        print(name, 'results per image:', [r['num'] for r in results],
              'parameters:', sum(p.numel() for p in model.parameters()))


if __name__ == '__main__':
    main()
