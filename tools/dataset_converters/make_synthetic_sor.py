# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Generate a synthetic pose-driven SOR dataset (the embedded default).

Example::

    python tools/dataset_converters/make_synthetic_sor.py --rule pose_order \
        --out data/synthetic_pose_order --num-train 500 --num-test 100

The ranking rules are documented in :mod:`posesor.datasets.synthetic`. The
script ends by printing a short hash of the annotation files, identical
for the same options on every machine.
"""
import argparse
import time

from posesor.datasets.synthetic import (RULES, annotation_digest,
                                        generate_synthetic_sor)


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
    parser.add_argument(
        '--rule',
        choices=RULES,
        default='pointing',
        help='ranking rule: "pointing" (pose decides which objects are '
        'salient) or "pose_order" (every object salient, pose decides the '
        'order)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    out = generate_synthetic_sor(
        args.out,
        num_train=args.num_train,
        num_test=args.num_test,
        size=args.size,
        seed=args.seed,
        rule=args.rule)
    elapsed = time.perf_counter() - start
    for split, info in out.items():
        print(f'{split}: {info["num_images"]} images, '
              f'{info["num_annotations"]} instances -> {info["ann_file"]}')
    digest = annotation_digest([info['ann_file'] for info in out.values()])
    print(f'annotation hash: {digest}')
    print(f'done in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
