# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Generate the synthetic pose-driven SOR dataset (the embedded default).

Example::

    python tools/dataset_converters/make_synthetic_sor.py \
        --out data/synthetic --num-train 500 --num-test 100 --size 192

The ranking rule is documented in :mod:`posesor.datasets.synthetic`.
"""
import argparse
import time

from posesor.datasets.synthetic import generate_synthetic_sor


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic pose-driven SOR dataset')
    parser.add_argument(
        '--out', default='data/synthetic', help='output root directory')
    parser.add_argument(
        '--num-train', type=int, default=500, help='training images')
    parser.add_argument(
        '--num-test', type=int, default=100, help='test images')
    parser.add_argument(
        '--size', type=int, default=192, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    out = generate_synthetic_sor(
        args.out,
        num_train=args.num_train,
        num_test=args.num_test,
        size=args.size,
        seed=args.seed)
    elapsed = time.perf_counter() - start
    for split, info in out.items():
        print(f'{split}: {info["num_images"]} images, '
              f'{info["num_annotations"]} instances -> {info["ann_file"]}')
    print(f'done in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
