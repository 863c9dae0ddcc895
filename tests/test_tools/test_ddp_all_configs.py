# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Every shipped config trains under DDP (2 gloo processes, 2 iterations,
a checkpoint written), the Swin-L ones at their method's tiny dimensions;
and a batch without any person does not break DDP.

One ``torchrun`` launch trains all configs one after the other inside each
process (see ``ddp_configs.py``): on 2 cores this costs one process start
instead of one per config. DDP is run with ``find_unused_parameters=False``
(the shipped default), so a parameter that no loss reaches, in any config,
fails the second iteration.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

from conftest import REPO, TRAIN_ITERS
from ddp_configs import shipped_configs, shrunk_config


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def test_shipped_configs_are_listed():
    names = {osp.basename(p) for p in shipped_configs()}
    assert {
        'posesor_swinl_assr.py', 'posesor_swinl_assr_wo_pose.py',
        'posesor_tiny_synthetic_wo_pose.py',
        'mask2former_sor_swinl_768_irsr.py',
        'seqrank_swinl_800_assr_corrected.py', 'seqrank_tiny_synthetic.py'
    } <= names
    assert len(names) == len(shipped_configs()) >= 16


def test_shrunk_config_keeps_the_variant(pose_order_roots, tmp_path):
    """Tiny dimensions, but the variant's own switches and recipe stay."""
    cfg = shrunk_config('configs/posesor_swinl_assr_wo_pose.py',
                        pose_order_roots['people'], str(tmp_path))
    pai = cfg.model.rank_head.pai
    assert (pai.embed_dims, pai.use_scene_tokens,
            pai.with_pose_outputs) == (64, False, False)
    assert cfg.model.rank_head.loss_joint is None
    assert cfg.model.backbone.arch['embed_dims'] == 32
    assert 'init_cfg' not in cfg.model.backbone
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    seqrank = shrunk_config(
        'projects/seqrank/configs/seqrank_swinl_800_assr.py',
        pose_order_roots['people'], str(tmp_path))
    # the released (uncorrected) neck stays, at the tiny width
    assert seqrank.model.neck.type == 'FrcPN'
    assert seqrank.model.neck.out_channels == 64
    assert seqrank.model.instance_head.decoder.embed_dims == 64


def test_every_config_trains_under_ddp(pose_order_roots, tmp_path):
    jobs = []
    for rel_path in shipped_configs():
        name = osp.splitext(osp.basename(rel_path))[0]
        cfg = shrunk_config(
            rel_path,
            pose_order_roots['people'],
            str(tmp_path / name),
            iters=TRAIN_ITERS)
        jobs.append(
            dict(
                name=rel_path,
                config=str(tmp_path / f'{name}.py'),
                work_dir=cfg.work_dir))
        cfg.dump(jobs[-1]['config'])
    # Pose losses on, no visible joint on either process: the pose losses
    # are zeros that keep the graph, so every parameter still gets a
    # gradient and DDP's reducer completes.
    cfg = shrunk_config(
        'configs/posesor_tiny_synthetic.py',
        pose_order_roots['no_people'],
        str(tmp_path / 'no_people'),
        iters=TRAIN_ITERS)
    jobs.append(
        dict(
            name='posesor_tiny_synthetic.py without people',
            config=str(tmp_path / 'no_people.py'),
            work_dir=cfg.work_dir))
    cfg.dump(jobs[-1]['config'])
    job_file = str(tmp_path / 'jobs.json')
    with open(job_file, 'w') as f:
        json.dump(jobs, f)

    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='',
        PYTHONPATH=os.pathsep.join([REPO] +
                                   ([os.environ['PYTHONPATH']] if os.environ.
                                    get('PYTHONPATH') else [])))
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_addr=127.0.0.1', f'--master_port={_free_port()}',
        osp.join(osp.dirname(__file__), 'ddp_configs.py'), job_file
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=1200)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-8000:]
    for job in jobs:
        assert f'=== DDP training of {job["name"]}' in proc.stdout
        ckpt = osp.join(job['work_dir'], f'iter_{TRAIN_ITERS}.pth')
        assert osp.isfile(ckpt), job['name']
