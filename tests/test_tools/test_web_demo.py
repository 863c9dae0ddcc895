# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""tools/web_demo.py: upload checks, JSON and table on a tiny random-weight
model, and the page itself driven in headless Chromium (Playwright)."""
import json
import os
import os.path as osp
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zlib

import numpy as np
import pytest
from conftest import REPO, TINY_CONFIG, load_tool

web_demo = load_tool('web_demo.py')

#: Debian's chromium (apt-get install chromium); POSESOR_CHROMIUM overrides.
CHROMIUM = os.environ.get('POSESOR_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'
]
SERVER_START_TIMEOUT = 300
PAGE_TIMEOUT_MS = 120_000
#: Table values are printed with 3 decimals.
TABLE_ATOL = 1.5e-3


def _png_header(path: str, width: int, height: int) -> str:
    """A PNG whose header claims ``width x height`` (the data is junk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data)))

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                chunk(b'IDAT', zlib.compress(b'\0' * 16)) +
                chunk(b'IEND', b''))
    return path


def _scene(path: str, seed: int = 3, size: int = 192) -> np.ndarray:
    """Write a synthetic scene as PNG; return it (BGR)."""
    import cv2

    from posesor.datasets.synthetic import render_scene
    rgb, _ = render_scene(np.random.default_rng(seed), size)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    cv2.imwrite(path, bgr)
    return bgr


@pytest.fixture(scope='module')
def bad_files(tmp_path_factory):
    """An image and three bad uploads: text, truncated JPEG, huge header."""
    import cv2
    folder = tmp_path_factory.mktemp('uploads')
    good = str(folder / 'scene.png')
    bgr = _scene(good)
    text = folder / 'notes.png'
    text.write_text('this is not an image\n')
    ok, jpeg = cv2.imencode('.jpg', bgr)
    truncated = folder / 'truncated.jpg'
    truncated.write_bytes(jpeg.tobytes()[:len(jpeg) // 2])
    huge = _png_header(str(folder / 'huge.png'), 20000, 20000)
    return dict(good=good, text=str(text), truncated=str(truncated), huge=huge)


@pytest.fixture(scope='module')
def random_checkpoint(tmp_path_factory):
    """The tiny config with random weights, saved as a checkpoint."""
    import torch
    from mmdet.apis import init_detector

    import posesor  # noqa: F401
    torch.manual_seed(0)
    model = init_detector(TINY_CONFIG, None, device='cpu')
    path = str(tmp_path_factory.mktemp('web_ckpt') / 'random.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=('object', )))), path)
    return path


@pytest.fixture(scope='module')
def reference(random_checkpoint, bad_files):
    """The model's prediction of the good upload, through mmdet's API
    only (not the web demo's code)."""
    from mmcv.transforms import Compose
    from mmdet.apis import inference_detector, init_detector

    import posesor  # noqa: F401
    model = init_detector(TINY_CONFIG, random_checkpoint, device='cpu')
    pipeline = Compose([
        t for t in model.cfg.test_dataloader.dataset.pipeline
        if t['type'] != 'LoadSORAnnotations'
    ])
    return inference_detector(
        model, bad_files['good'], test_pipeline=pipeline).pred_instances


def test_read_upload(bad_files):
    img = web_demo.read_upload(bad_files['good'])
    assert img.shape == (192, 192, 3) and img.dtype == np.uint8
    import cv2
    np.testing.assert_array_equal(img, cv2.imread(bad_files['good']))
    cases = [
        (bad_files['text'], 'notes.png is not an image'),
        (bad_files['truncated'], 'truncated.jpg is truncated or damaged'),
        (bad_files['huge'], 'huge.png is too large'),
    ]
    for path, message in cases:
        with pytest.raises(web_demo.ImageRejected, match=message):
            web_demo.read_upload(path)
    with pytest.raises(web_demo.ImageRejected, match='limit is 0 MiB'):
        web_demo.read_upload(bad_files['good'], max_bytes=100)
    with pytest.raises(web_demo.ImageRejected, match='192 x 192 pixels'):
        web_demo.read_upload(bad_files['good'], max_pixels=100)


def test_resolve_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='make demo'):
        web_demo.resolve_checkpoint(str(tmp_path / 'missing.pth'))
    with pytest.raises(FileNotFoundError, match='no checkpoint in'):
        web_demo.resolve_checkpoint(str(tmp_path))
    (tmp_path / 'iter_2.pth').write_bytes(b'x')
    (tmp_path / 'iter_4.pth').write_bytes(b'x')
    # mmengine's record of the last checkpoint, from another machine
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/iter_2.pth')
    assert web_demo.resolve_checkpoint(str(tmp_path)) == str(tmp_path /
                                                             'iter_2.pth')


def test_json_and_table_match_the_model(random_checkpoint, bad_files,
                                        reference):
    from pycocotools import mask as mask_utils
    predictor = web_demo.SORPredictor(TINY_CONFIG, random_checkpoint)
    image = web_demo.read_upload(bad_files['good'])
    arrays = web_demo.prediction_arrays(predictor(image))
    ref = reference
    n = len(ref)
    assert n >= 1 and len(arrays['ranks']) == n
    np.testing.assert_array_equal(arrays['ranks'], np.arange(1, n + 1))
    np.testing.assert_allclose(
        arrays['rank_scores'], ref.rank_scores.numpy(), atol=1e-6)
    record = web_demo.prediction_json(arrays, 'scene.png',
                                      dict(obj_threshold=0.1))
    record = json.loads(json.dumps(record))
    assert (record['height'], record['width']) == (192, 192)
    assert [i['rank'] for i in record['instances']] == list(range(1, n + 1))
    for inst, mask, box, kpts in zip(record['instances'], ref.masks.numpy(),
                                     ref.bboxes.numpy(),
                                     ref.keypoints.numpy()):
        np.testing.assert_array_equal(
            mask_utils.decode(inst['mask']).astype(bool), mask)
        np.testing.assert_allclose(inst['bbox'], box, atol=1e-4)
        np.testing.assert_allclose(inst['keypoints'], kpts, atol=1e-4)
        assert inst['keypoint_source'] == 'posesor'
    table = web_demo.instances_table(arrays)
    assert table.count('<tr data-rank=') == n
    # a stricter mask threshold gives smaller masks
    strict = web_demo.prediction_arrays(predictor(image, mask_threshold=0.9))
    loose = web_demo.prediction_arrays(predictor(image, mask_threshold=0.1))
    assert strict['masks'].sum() <= loose['masks'].sum()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def sync_playwright():
    """Playwright's sync API, or skip saying what is missing."""
    pytest.importorskip(
        'gradio', reason='Gradio missing: pip install '
        '-e .[web]')
    if not (osp.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f'no Chromium at {CHROMIUM}: apt-get install chromium '
                    'chromium-driver (or set POSESOR_CHROMIUM)')
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip('Playwright missing: pip install -e .[tests]')
    return sync_playwright


@pytest.fixture
def server(sync_playwright, random_checkpoint, tmp_path):
    """tools/web_demo.py serving the random model on a free port."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    log = open(tmp_path / 'server.log', 'w+')
    proc = subprocess.Popen([
        sys.executable,
        osp.join(REPO, 'tools', 'web_demo.py'), TINY_CONFIG, random_checkpoint,
        '--port',
        str(port)
    ],
                            cwd=REPO,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}/'
    deadline = time.time() + SERVER_START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError('web_demo.py exited:\n' + log.read())
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError('web_demo.py did not answer')
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _upload(page, url: str, path: str) -> None:
    page.goto(url)
    page.set_input_files('#sor-upload input[type=file]', path)


def _status(page, expected: str) -> str:
    page.wait_for_function(
        'text => document.querySelector("#sor-status").innerText'
        '.includes(text)',
        arg=expected,
        timeout=PAGE_TIMEOUT_MS)
    return page.inner_text('#sor-status')


def test_web_page_in_chromium(sync_playwright, server, reference, bad_files,
                              tmp_path):
    ref = reference
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=dict(width=1280, height=1000))
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        _upload(page, server, bad_files['good'])
        page.wait_for_selector('#sor-instances tbody tr[data-rank]')
        page.wait_for_selector('#sor-overlay img')
        status = _status(page, 'ranked instance')
        assert f'{len(ref)} ranked instance(s)' in status
        rows = page.eval_on_selector_all(
            '#sor-instances tbody tr', 'rows => rows.map(r => '
            'Array.from(r.cells).map(c => c.innerText.trim()))')
        assert len(rows) == len(ref)
        persons = (ref.keypoint_scores.numpy() >= 0.5).sum(-1) >= 1
        for k, row in enumerate(rows):
            assert int(row[0]) == k + 1
            assert abs(float(row[1]) - float(ref.rank_scores[k])) < TABLE_ATOL
            assert abs(float(row[2]) - float(ref.scores[k])) < TABLE_ATOL
            assert row[3] == ('yes' if persons[k] else 'no')
            assert row[4] == 'posesor'
        size = page.eval_on_selector(
            '#sor-overlay img', 'img => [img.naturalWidth, img.naturalHeight]')
        assert size == [576, 576]  # drawn at 3x: 192 px < MIN_DRAW_SIDE
        shot = str(tmp_path / 'web_demo.png')
        page.screenshot(path=shot, full_page=True)
        assert osp.getsize(shot) > 10_000
        # the JSON download holds the same ranking
        href = page.get_attribute('#sor-json a', 'href')
        with urllib.request.urlopen(urllib.parse.urljoin(server, href)) as f:
            record = json.load(f)
        ranks = [inst['rank'] for inst in record['instances']]
        assert ranks == list(range(1, len(ref) + 1))
        # toggles redraw the overlay
        for toggle in ('#sor-show-partitions', '#sor-show-masks'):
            before = page.get_attribute('#sor-overlay img', 'src')
            page.click(f'{toggle} input[type=checkbox]')
            page.wait_for_function(
                'src => document.querySelector("#sor-overlay img").src '
                '!== src',
                arg=before)
        # a threshold re-runs the model: a high mask threshold, new overlay
        before = page.get_attribute('#sor-overlay img', 'src')
        box = page.locator('#sor-mask-thr input[type=range]').bounding_box()
        y = box['y'] + box['height'] / 2
        page.mouse.move(box['x'] + box['width'] / 2, y)  # on the thumb
        page.mouse.down()
        page.mouse.move(box['x'] + box['width'] * 0.95, y, steps=5)
        page.mouse.up()  # "release": the model re-runs
        page.wait_for_function(
            'src => document.querySelector("#sor-overlay img").src !== src',
            arg=before)
        for key, message in (('text', 'notes.png is not an image'),
                             ('truncated',
                              'truncated or damaged'), ('huge', 'too large')):
            _upload(page, server, bad_files[key])
            assert 'Cannot use this upload' in _status(page, message)
        page.screenshot(path=str(tmp_path / 'web_demo_bad.png'))
        # the server still serves: an upload, then an example
        _upload(page, server, bad_files['good'])
        page.wait_for_selector('#sor-instances tbody tr[data-rank]')
        page.goto(server)
        page.get_by_text('example_1.png').first.click()
        _status(page, 'example_1.png: 192 x 192 px')
        browser.close()
    target = os.environ.get('POSESOR_WEB_SCREENSHOTS')
    if target:
        os.makedirs(target, exist_ok=True)
        for name in ('web_demo.png', 'web_demo_bad.png'):
            shutil.copy(tmp_path / name, target)
