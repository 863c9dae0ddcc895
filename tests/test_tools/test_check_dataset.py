# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Issue 24: ``tools/misc/check_sor_dataset.py`` and ``train.py
--check-data`` decode and validate a whole dataset before training."""
import json
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, load_tool
from mmengine.config import Config

from posesor.datasets import DatasetCheckError, check_sor_dataset


@pytest.fixture
def broken_root(synthetic_dataset, tmp_path):
    """The synthetic dataset with image 2 truncated, image 3 not an image,
    image 5 a phone photo annotated as displayed (EXIF orientation 6) and
    a box of image 1 reaching 2 px past the border."""
    from PIL import Image
    root = tmp_path / 'ds'
    shutil.copytree(synthetic_dataset, root)
    images = root / 'images' / 'train'
    data = (images / '000002.jpg').read_bytes()
    (images / '000002.jpg').write_bytes(data[:len(data) // 2])
    (images / '000003.jpg').write_bytes(b'not an image at all')
    with Image.open(images / '000005.jpg') as img:
        stored = img.crop((0, 0, 48, 96))  # 48 wide, 96 high
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed 96 wide, 48 high
    stored.save(images / '000005.jpg', exif=exif.tobytes())
    path = root / 'synthetic_train.json'
    ann = json.loads(path.read_text())
    assert ann['images'][4]['id'] == 5
    ann['images'][4].update(height=48, width=96)
    ann['annotations'] = [a for a in ann['annotations'] if a['image_id'] != 5]
    first = next(a for a in ann['annotations'] if a['image_id'] == 1)
    x, y, w, h = first['bbox']
    first['bbox'] = [x, y, ann['images'][0]['width'] + 2 - x, h]
    path.write_text(json.dumps(ann))
    return str(root)


def _train_dataset_cfg(root):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'posesor_tiny_synthetic.py'))
    dataset = cfg.train_dataloader.dataset.to_dict()
    dataset['data_root'] = root + '/'
    return dataset


def test_check_reports_every_unusable_image(broken_root):
    report = check_sor_dataset(_train_dataset_cfg(broken_root), progress=False)
    assert report.num_images == 8
    bad = {img_id: msg for img_id, _, msg in report.problems}
    assert sorted(bad) == [2, 3]
    assert 'truncated' in bad[2]
    assert 'cannot be decoded' in bad[3]
    assert report.num_exif_oriented == 1  # image 5 loads, EXIF-rotated
    assert report.repairs.get('bbox_clamped') == 1
    assert not report.ok
    text = report.to_text()
    assert 'image id 2' in text and '000002.jpg' in text
    assert '2 unusable image(s), 1 read EXIF-rotated' in text


def test_check_tool_and_train_flag(broken_root, tmp_path, tiny_config):
    out = tmp_path / 'report.json'
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'misc', 'check_sor_dataset.py'), tiny_config,
        '--data-root', broken_root, '--splits', 'train', '--out',
        str(out), '--no-progress'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert '2 image(s) cannot be used' in proc.stderr
    reports = json.loads(out.read_text())
    assert [p['img_id'] for p in reports[0]['problems']] == [2, 3]
    # a clean dataset passes (train and test splits)
    tool = load_tool('misc/check_sor_dataset.py')
    reports = tool.main([tiny_config, '--no-progress'])
    assert len(reports) == 2 and all(r.ok for r in reports)
    # train.py --check-data stops before training, naming the images
    train = load_tool('train.py')
    with pytest.raises(DatasetCheckError, match='image id 2') as e:
        train.main([
            tiny_config, '--data-root', broken_root, '--check-data',
            '--work-dir',
            str(tmp_path / 'wd')
        ])
    assert 'truncated' in str(e.value)
    assert not osp.exists(tmp_path / 'wd' / 'iter_1.pth')
