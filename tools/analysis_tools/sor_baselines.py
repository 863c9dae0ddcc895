# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Score trivial SOR baselines on an annotation file.

Example::

    python tools/analysis_tools/sor_baselines.py \\
        data/synthetic/synthetic_test.json --seed 0

See :mod:`posesor.evaluation.baselines` for what each baseline predicts.
"""
import argparse
import json
from typing import Dict, List, Optional

from posesor.evaluation.baselines import BASELINES, score_baselines


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Score trivial SOR '
                                     'baselines on an annotation file')
    parser.add_argument('ann_file', help='SOR annotation JSON')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--rank-key', default='category_id')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    results = score_baselines(args.ann_file, args.seed, BASELINES,
                              args.rank_key)
    for name, res in results.items():
        print(f'{name:<14} SA-SOR {res["sa_sor"]:.3f}  SOR {res["sor"]:.3f}  '
              f'MAE {res["mae"]:.4f}  pose-order accuracy '
              f'{res["pose_order_accuracy"]:.3f} '
              f'(chance {res["pose_order_chance"]:.3f})')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
