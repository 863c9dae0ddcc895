# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""GPU acceptance run: the paths a GPU user takes, measured in one table.

Example (on a CUDA machine; the README gets the table and the card)::

    python tools/analysis_tools/gpu_acceptance.py --work-dir work_dirs/acc \\
        --out work_dirs/acc/acceptance.md
    # with the real data and the released weights:
    python tools/analysis_tools/gpu_acceptance.py --data-root data/assr/ \\
        --checkpoint checkpoints/posesor_swinl_assr_768.pth

Checks:

1. AMP training (``tools/train.py --amp``, ``AmpOptimWrapper`` with a
   dynamic loss scale) of ``configs/posesor_swinl_assr_512.py``, the
   reference's computation-friendly recipe (16 images per GPU at 512,
   per-batch sizes 480/512/544), for ``--train-iters`` iterations: median
   seconds per iteration after ``--warmup-iters``, peak allocated memory,
   and whether every logged loss is finite.
2. Inference of ``configs/posesor_swinl_assr.py`` at 768 x 768, batch 1, in
   float32 and in float16 (``model.inference_dtype``): median latency of
   ``model.test_step`` against the paper's 61 ms (RTX 4090), and peak
   memory.
3. With 2+ GPUs: the test split predicted by ``tools/dist_test.sh`` on all
   GPUs equals the 1-GPU ``tools/test.py`` run image for image (ranks,
   masks, rank scores), with the checkpoint of check 1.

Without ``--data-root`` a synthetic SOR dataset at 512 x 512 is generated
in the work dir (the cost of a step depends on the image size and the
number of instances, not on the content). Without ``--checkpoint`` the
inference uses the weights of check 1. On a machine without CUDA the script
stops at once with :class:`GPUUnavailableError`.
"""
import argparse
import os
import os.path as osp
import pickle
import platform
import socket
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))

#: The paper's inference time of PoseSOR (768 x 768, batch 1, RTX 4090).
PAPER_LATENCY_MS = 61.0
TRAIN_CONFIG = osp.join(REPO, 'configs', 'posesor_swinl_assr_512.py')
TEST_CONFIG = osp.join(REPO, 'configs', 'posesor_swinl_assr.py')
INFERENCE_SIZE = 768
GIB = 1024**3
#: Synthetic stand-in data: side, and images per split.
SYNTHETIC_SIZE = 512
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 64, 32
#: Columns of the printed table.
COLUMNS = ('check', 'setting', 'measured', 'target', 'verdict')
#: Absolute tolerance on rank scores between the DDP and 1-GPU tests.
SCORE_ATOL = 1e-4


class GPUUnavailableError(RuntimeError):
    """The acceptance run needs a CUDA GPU."""


def require_cuda() -> int:
    """Number of visible CUDA GPUs; refuses a machine without any.

    Raises:
        GPUUnavailableError: If ``torch.cuda.is_available()`` is False.
    """
    if not torch.cuda.is_available():
        raise GPUUnavailableError(
            'gpu_acceptance.py measures GPU training and inference, but '
            'torch.cuda.is_available() is False on this machine (torch '
            f'{torch.__version__}, CUDA build {torch.version.cuda}). Run it '
            'on a CUDA machine; on the CPU the DDP (gloo) and autocast '
            'paths are covered by the test suite instead.')
    return torch.cuda.device_count()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``gpu_acceptance.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='GPU acceptance run of PoseSOR (AMP training, '
        'inference latency, DDP equals 1 GPU)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/gpu_acceptance',
        help='where data, logs and checkpoints go')
    parser.add_argument(
        '--data-root',
        help='an ASSR-layout dataset (default: synthetic data at 512 '
        'generated in the work dir)')
    parser.add_argument(
        '--checkpoint',
        help='weights for the inference check (default: those of the '
        'training check)')
    parser.add_argument(
        '--pretrained',
        help='Swin-L backbone weights for training (default: random)')
    parser.add_argument('--train-iters', type=int, default=50)
    parser.add_argument(
        '--warmup-iters',
        type=int,
        default=10,
        help='first iterations left out of the timing')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--infer-iters', type=int, default=50)
    parser.add_argument('--infer-warmup', type=int, default=10)
    parser.add_argument(
        '--skip-ddp', action='store_true', help='leave out check 3')
    parser.add_argument('--out', help='also write the table to this file')
    args = parser.parse_args(argv)
    if args.warmup_iters >= args.train_iters:
        parser.error('--warmup-iters must be below --train-iters')
    return args


def format_table(rows: Sequence[Dict[str, str]], device: str) -> str:
    """The acceptance table as Markdown.

    Args:
        rows (Sequence[dict]): One dict per check with the keys of
            :data:`COLUMNS`.
        device (str): The card(s) and software, printed above the table.

    Returns:
        str: ``device`` line, blank line, header, rule and one line a row.
    """
    lines = [f'GPU acceptance run on {device}', '']
    lines.append('| ' + ' | '.join(COLUMNS) + ' |')
    lines.append('|' + '|'.join('---' for _ in COLUMNS) + '|')
    for row in rows:
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise KeyError(f'table row {row} lacks {missing}')
        lines.append('| ' + ' | '.join(str(row[c]) for c in COLUMNS) + ' |')
    return '\n'.join(lines) + '\n'


def compare_predictions(single: Sequence[dict],
                        multi: Sequence[dict]) -> Dict[str, object]:
    """Compare two ``tools/test.py --out`` dumps image by image.

    Args:
        single (Sequence[dict]): Predictions of the 1-GPU run.
        multi (Sequence[dict]): Predictions of the DDP run.

    Returns:
        dict: ``num_images`` (of the 1-GPU run), ``num_equal`` (images with
        the same path, ranks and RLE masks and rank scores within
        :data:`SCORE_ATOL`) and ``mismatches`` (their paths, or a note on
        the image count).
    """
    mismatches = []
    if len(single) != len(multi):
        mismatches.append(f'{len(single)} vs {len(multi)} images')
    num_equal = 0
    for a, b in zip(single, multi):
        pa, pb = a['pred_instances'], b['pred_instances']
        same = (
            a['img_path'] == b['img_path'] and np.array_equal(
                np.asarray(pa['ranks']), np.asarray(pb['ranks']))
            and [m['counts']
                 for m in pa['masks']] == [m['counts'] for m in pb['masks']]
            and np.allclose(
                np.asarray(pa['rank_scores']),
                np.asarray(pb['rank_scores']),
                rtol=0.0,
                atol=SCORE_ATOL))
        if same:
            num_equal += 1
        else:
            mismatches.append(a['img_path'])
    return dict(
        num_images=len(single), num_equal=num_equal, mismatches=mismatches)


def _synthetic_data(work_dir: str) -> str:
    from posesor.datasets.synthetic import generate_synthetic_sor
    root = osp.join(work_dir, 'synthetic_512')
    if not osp.isfile(osp.join(root, 'synthetic_test.json')):
        generate_synthetic_sor(
            root,
            num_train=SYNTHETIC_TRAIN,
            num_test=SYNTHETIC_TEST,
            size=SYNTHETIC_SIZE,
            seed=0)
    return root + '/'


def _data_options(args: argparse.Namespace) -> List[str]:
    """``--data-root`` and ``--cfg-options`` of the train/test tools."""
    if args.data_root:
        return ['--data-root', args.data_root]
    root = _synthetic_data(args.work_dir)
    return [
        '--data-root', root, '--cfg-options',
        'train_dataloader.dataset.ann_file=synthetic_train.json',
        'val_dataloader.dataset.ann_file=synthetic_test.json',
        'test_dataloader.dataset.ann_file=synthetic_test.json',
        f'val_evaluator.ann_file={root}synthetic_test.json',
        f'test_evaluator.ann_file={root}synthetic_test.json'
    ]


def _with_cfg_options(options: List[str], extra: List[str]) -> List[str]:
    """Append ``key=value`` pairs to the ``--cfg-options`` of ``options``."""
    if '--cfg-options' in options:
        return options + extra
    return options + ['--cfg-options'] + extra


def training_config(args: argparse.Namespace) -> Config:
    """The config of check 1, built as ``tools/train.py --amp`` builds it.

    Returns:
        Config: ``configs/posesor_swinl_assr_512.py`` with ``--amp``, the
        data, ``--train-iters`` iterations, ``--batch-size`` images per GPU,
        no validation and one checkpoint at the end.
    """
    import train
    work_dir = osp.join(args.work_dir, 'train_amp_512')
    backbone_init = (f'model.backbone.init_cfg.checkpoint={args.pretrained}'
                     if args.pretrained else 'model.backbone.init_cfg=None')
    argv = [TRAIN_CONFIG, '--amp', '--work-dir', work_dir]
    argv += _with_cfg_options(
        _data_options(args), [
            f'train_cfg.max_iters={args.train_iters}',
            f'train_dataloader.batch_size={args.batch_size}',
            f'default_hooks.checkpoint.interval={args.train_iters}',
            'default_hooks.logger.interval=1', backbone_init
        ])
    cfg = train.build_train_config(train.parse_args(argv))
    # no validation (mmengine would run one after the last iteration)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def measure_training(args: argparse.Namespace) -> Dict[str, object]:
    """Check 1: AMP training of the 512 recipe (see the module docstring).

    Returns:
        dict: ``s_per_iter`` (median), ``peak_gib``, ``loss_finite``,
        ``last_loss``, ``checkpoint``, ``work_dir``.
    """
    from mmengine.runner import Runner
    cfg = training_config(args)
    work_dir = cfg.work_dir
    runner = Runner.from_cfg(cfg)
    torch.cuda.reset_peak_memory_stats()
    runner.train()
    hub = runner.message_hub
    times = np.asarray(hub.get_scalar('train/time').data[0])
    losses = np.asarray(hub.get_scalar('train/loss').data[0])
    return dict(
        s_per_iter=float(np.median(times[args.warmup_iters:])),
        peak_gib=torch.cuda.max_memory_allocated() / GIB,
        loss_finite=bool(np.isfinite(losses).all()),
        last_loss=float(losses[-1]),
        checkpoint=osp.join(work_dir, f'iter_{args.train_iters}.pth'),
        work_dir=work_dir)


def measure_inference(args: argparse.Namespace, checkpoint: str,
                      dtype: Optional[str]) -> Dict[str, object]:
    """Check 2 for one precision (``dtype`` None is float32)."""
    import benchmark
    cfg = Config.fromfile(TEST_CONFIG)
    cfg.model.backbone.init_cfg = None
    cfg.model.inference_dtype = dtype
    torch.cuda.reset_peak_memory_stats()
    result = benchmark.benchmark(
        cfg, (INFERENCE_SIZE, INFERENCE_SIZE),
        checkpoint,
        batch_size=1,
        num_iters=args.infer_iters,
        num_warmup=args.infer_warmup,
        device='cuda:0')
    return result


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def ddp_equals_single(args: argparse.Namespace, checkpoint: str,
                      num_gpus: int) -> Dict[str, object]:
    """Check 3: ``dist_test.sh`` on ``num_gpus`` GPUs vs 1-GPU ``test.py``.
    """
    out = osp.join(args.work_dir, 'ddp_vs_single')
    os.makedirs(out, exist_ok=True)
    one, many = osp.join(out, 'one_gpu.pkl'), osp.join(out, 'ddp.pkl')
    options = _with_cfg_options(
        _data_options(args), ['model.backbone.init_cfg=None'])
    env = dict(os.environ, PYTHON=sys.executable, PORT=_free_port())
    first_gpu = env.get('CUDA_VISIBLE_DEVICES', '0').split(',')[0]
    subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'test.py'), TRAIN_CONFIG, checkpoint,
            '--work-dir',
            osp.join(out, 'one'), '--out', one
        ] + options,
        check=True,
        env=dict(env, CUDA_VISIBLE_DEVICES=first_gpu))
    subprocess.run(
        [
            'bash',
            osp.join(REPO, 'tools', 'dist_test.sh'), TRAIN_CONFIG, checkpoint,
            str(num_gpus), '--work-dir',
            osp.join(out, 'ddp'), '--out', many
        ] + options,
        check=True,
        env=env)
    with open(one, 'rb') as f:
        single = pickle.load(f)
    with open(many, 'rb') as f:
        multi = pickle.load(f)
    return compare_predictions(single, multi)


def device_description(num_gpus: int) -> str:
    """Card name and count, torch / CUDA versions and the host."""
    name = torch.cuda.get_device_name(0)
    return (f'{num_gpus} x {name} (torch {torch.__version__}, CUDA '
            f'{torch.version.cuda}, {platform.node()})')


def acceptance_rows(train_result: Dict[str, object],
                    inference: Dict[str, Dict[str, object]],
                    ddp: Optional[Dict[str, object]], num_gpus: int,
                    args: argparse.Namespace) -> List[Dict[str, str]]:
    """The table's rows from the measurements.

    Args:
        train_result (dict): From :func:`measure_training`.
        inference (dict): Precision name -> :func:`measure_inference`.
        ddp (dict, optional): From :func:`ddp_equals_single` (None: not
            run).
        num_gpus (int): Visible GPUs.
        args (argparse.Namespace): The command line.

    Returns:
        list[dict]: One row a check, keys :data:`COLUMNS`.
    """
    rows = [
        dict(
            check='AMP training, Swin-L ASSR 512',
            setting=(f'{args.batch_size} img/GPU, sizes 480/512/544, '
                     f'{args.train_iters} iters, AmpOptimWrapper dynamic'),
            measured=(f'{train_result["s_per_iter"]:.3f} s/iter, peak '
                      f'{train_result["peak_gib"]:.1f} GiB, last loss '
                      f'{train_result["last_loss"]:.3f}'),
            target='every loss finite',
            verdict='pass' if train_result['loss_finite'] else 'FAIL')
    ]
    for precision, result in inference.items():
        latency = result['latency_median_ms']
        rows.append(
            dict(
                check=f'inference {precision}',
                setting=f'{INFERENCE_SIZE}x{INFERENCE_SIZE}, batch 1, '
                f'{args.infer_iters} runs',
                measured=(f'{latency:.1f} ms median, peak '
                          f'{result["peak_memory_mib"] / 1024:.2f} GiB'),
                target=f'paper: {PAPER_LATENCY_MS:.0f} ms (RTX 4090)',
                verdict=f'{latency / PAPER_LATENCY_MS:.2f} x paper'))
    if ddp is None:
        rows.append(
            dict(
                check='DDP equals 1 GPU',
                setting=f'{num_gpus} GPU(s) visible',
                measured='not run (needs 2+ GPUs)'
                if num_gpus < 2 else 'skipped (--skip-ddp)',
                target='all images equal',
                verdict='n/a'))
    else:
        rows.append(
            dict(
                check='DDP equals 1 GPU',
                setting=f'test split, {num_gpus} GPUs vs 1',
                measured=f'{ddp["num_equal"]}/{ddp["num_images"]} images '
                'equal',
                target='all images equal',
                verdict='pass' if not ddp['mismatches'] else 'FAIL: ' +
                ', '.join(map(str, ddp['mismatches'][:3]))))
    return rows


def main(argv: Optional[List[str]] = None) -> str:
    """Entry point; returns the table (also printed, and written to
    ``--out``).

    Raises:
        GPUUnavailableError: On a machine without CUDA.
    """
    args = parse_args(argv)
    num_gpus = require_cuda()
    os.makedirs(args.work_dir, exist_ok=True)
    train_result = measure_training(args)
    checkpoint = args.checkpoint or train_result['checkpoint']
    inference = {
        'float32': measure_inference(args, checkpoint, None),
        'float16': measure_inference(args, checkpoint, 'float16')
    }
    ddp = None
    if num_gpus >= 2 and not args.skip_ddp:
        ddp = ddp_equals_single(args, train_result['checkpoint'], num_gpus)
    table = format_table(
        acceptance_rows(train_result, inference, ddp, num_gpus, args),
        device_description(num_gpus))
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table)
    return table


if __name__ == '__main__':
    try:
        main()
    except GPUUnavailableError as err:
        sys.exit(f'error: {err}')
