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

#: Smallest image side ``generate_synthetic_sor`` draws scenes on.
MIN_SIZE = 32


def int_at_least(minimum: int):
    """An argparse ``type`` accepting integers ``>= minimum``.

    Args:
        minimum (int): Smallest accepted value.

    Returns:
        Callable[[str], int]: Parser raising ``ArgumentTypeError`` (argparse
        then names the option) for anything else.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'must be an integer, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f'must be an integer >= {minimum}, got {value}')
        return value

    return parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic pose-driven SOR dataset')
    parser.add_argument(
        '--out', default='data/synthetic', help='output root directory')
    parser.add_argument(
        '--num-train',
        type=int_at_least(1),
        default=500,
        help='training images (>= 1)')
    parser.add_argument(
        '--num-test',
        type=int_at_least(1),
        default=100,
        help='test images (>= 1)')
    parser.add_argument(
        '--size',
        type=int_at_least(MIN_SIZE),
        default=192,
        help=f'image side in pixels (>= {MIN_SIZE})')
    parser.add_argument(
        '--seed', type=int_at_least(0), default=0, help='random seed (>= 0)')
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
