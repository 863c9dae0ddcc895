# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Draw a SOR dataset's ground truth after its pipeline.

Masks are coloured by rank (rank 1 warm, later ranks cool) with the rank
numbers and COCO-17 skeletons. Example::

    python tools/analysis_tools/browse_dataset.py \
        configs/_base_/datasets/synthetic.py --output-dir work_dirs/browse \
        --num 8
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from posesor.visualization import SORLocalVisualizer

SPLIT_TO_LOADER = dict(
    train='train_dataloader', val='val_dataloader', test='test_dataloader')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse a SOR dataset')
    parser.add_argument('config', help='config with the dataloaders')
    parser.add_argument(
        '--split',
        default='train',
        choices=tuple(SPLIT_TO_LOADER),
        help='which dataloader\'s dataset to draw')
    parser.add_argument(
        '--output-dir', default=None, help='directory for the drawings')
    parser.add_argument(
        '--num', type=int, default=-1, help='number of images (-1: all)')
    parser.add_argument(
        '--show', action='store_true', help='show each drawing in a window')
    parser.add_argument(
        '--show-interval', type=float, default=2, help='seconds per image')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'train_dataloader.dataset.data_root=data/synthetic/')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.output_dir is None and not args.show:
        raise SystemExit('give --output-dir and/or --show')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmdet.registry import DATASETS

    import posesor  # noqa: F401  (registers the SOR modules)
    loader = cfg.get(SPLIT_TO_LOADER[args.split])
    if loader is None:
        raise SystemExit(f'{args.config} has no {SPLIT_TO_LOADER[args.split]}')
    dataset = DATASETS.build(loader['dataset'])
    visualizer = SORLocalVisualizer(name='browse_dataset')
    num = len(dataset) if args.num < 0 else min(args.num, len(dataset))
    if args.output_dir is not None:
        os.makedirs(args.output_dir, exist_ok=True)
    progress = ProgressBar(num)
    for idx in range(num):
        item = dataset[idx]
        sample = item['data_samples']
        # (3, H, W) tensor in the loaded channel order (BGR) -> RGB
        img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
        name = osp.basename(sample.img_path)
        out_file = None if args.output_dir is None else osp.join(
            args.output_dir, name)
        visualizer.add_datasample(
            name,
            img,
            sample,
            draw_pred=False,
            show=args.show,
            wait_time=args.show_interval,
            out_file=out_file)
        progress.update()


if __name__ == '__main__':
    main()
