# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Decode and validate a whole SOR dataset before training.

A truncated or undecodable image otherwise stops training only when the
pipeline reaches it, possibly hours in. :func:`check_sor_dataset` builds
the dataset (the annotation file is validated and repaired, with counts),
fully decodes every image with PIL (OpenCV fills a truncated JPEG with gray
and only prints a warning) and runs every item through the dataset's
pipeline (image loading, the size check against the annotation, mask
decoding), with a progress bar, and returns a :class:`DatasetReport`.
"""
import io
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmdet.registry import DATASETS
from mmengine import fileio
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from .sor_parsing import SORDataWarning
from .transforms.loading import EXIF_TRANSPOSING, exif_orientation

#: Problems listed in full in the report's text (all are in ``problems``).
MAX_LISTED_PROBLEMS = 20


@dataclass
class DatasetReport:
    """What :func:`check_sor_dataset` found in one dataset.

    Attributes:
        name (str): The dataset (its annotation file).
        num_images (int): Images checked.
        num_instances (int): Instances of the checked images.
        problems (list[tuple]): ``(image id, image file, message)`` of every
            image that cannot be used.
        repairs (dict): Repair kind -> count of the annotation file (see
            :class:`~posesor.datasets.sor_parsing.SORRepairs`).
        num_exif_oriented (int): Images read EXIF-rotated because their
            annotation is for the displayed size.
        warnings (list[str]): Warnings raised while the dataset loaded.
    """
    name: str
    num_images: int = 0
    num_instances: int = 0
    problems: List[Tuple[Any, str, str]] = field(default_factory=list)
    repairs: Dict[str, int] = field(default_factory=dict)
    num_exif_oriented: int = 0
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every image can be used."""
        return not self.problems

    def to_text(self) -> str:
        """A human-readable report (a few lines, problems listed)."""
        lines = [
            f'{self.name}: {self.num_images} image(s), '
            f'{self.num_instances} instance(s), {len(self.problems)} '
            f'unusable image(s), {self.num_exif_oriented} read EXIF-rotated'
        ]
        if self.repairs:
            lines.append('  repaired on load: ' +
                         ', '.join(f'{kind} {num}'
                                   for kind, num in self.repairs.items()))
        for text in self.warnings:
            lines.append(f'  warning: {text}')
        for img_id, path, message in self.problems[:MAX_LISTED_PROBLEMS]:
            lines.append(f'  image id {img_id!r} ({path}): {message}')
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(
                f'  ... and {len(self.problems) - MAX_LISTED_PROBLEMS}'
                f' more')
        return '\n'.join(lines)

    def to_dict(self) -> dict:
        """The report as JSON-ready data."""
        return dict(
            name=self.name,
            ok=self.ok,
            num_images=self.num_images,
            num_instances=self.num_instances,
            num_exif_oriented=self.num_exif_oriented,
            repairs=dict(self.repairs),
            warnings=list(self.warnings),
            problems=[
                dict(img_id=i, img_path=p, message=m)
                for i, p, m in self.problems
            ])


def decode_fully(img_bytes: bytes) -> Tuple[int, int]:
    """Decode every pixel of an encoded image with PIL.

    Args:
        img_bytes (bytes): The file's content.

    Returns:
        tuple[int, int]: The stored ``(height, width)``.

    Raises:
        OSError: If the file is truncated or cannot be decoded (PIL's
            message, e.g. ``image file is truncated``).
    """
    from PIL import Image
    with Image.open(io.BytesIO(img_bytes)) as img:
        img.load()  # raises on truncated data, unlike OpenCV
        return img.height, img.width


def check_sor_dataset(dataset_cfg: dict,
                      backend_args: Optional[dict] = None,
                      progress: bool = True) -> DatasetReport:
    """Validate every image and annotation of a dataset.

    Args:
        dataset_cfg (dict): A dataset config (``SORDataset``); built in test
            mode without filtering, so that every image is checked.
        backend_args (dict, optional): File backend of the images
            (defaults to the dataset's ``backend_args``).
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        DatasetReport: The findings. An annotation file that cannot be
        loaded at all raises its error (it names the file and ids).
    """
    init_default_scope('mmdet')
    cfg = dict(dataset_cfg)
    cfg['test_mode'] = True  # check every image, do not filter
    cfg.pop('filter_cfg', None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', SORDataWarning)
        dataset = DATASETS.build(cfg)
    report = DatasetReport(name=str(getattr(dataset, 'ann_file', cfg)))
    report.warnings = [
        str(w.message) for w in caught
        if issubclass(w.category, SORDataWarning)
    ]
    repairs = getattr(dataset, 'repairs', None)
    if repairs is not None:
        report.repairs = dict(repairs.counts)
    if backend_args is None:
        backend_args = getattr(dataset, 'backend_args', None)
    bar = ProgressBar(len(dataset)) if progress else None
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        report.num_images += 1
        report.num_instances += len(info.get('instances', ()))
        problem = _check_item(dataset, idx, info, backend_args)
        if problem == EXIF_ROTATED:
            report.num_exif_oriented += 1
        elif problem is not None:
            report.problems.append(
                (info.get('img_id'), info.get('img_path'), problem))
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    return report


#: :func:`_check_item`'s answer for a usable image read EXIF-rotated.
EXIF_ROTATED = 'exif-rotated'


def _check_item(dataset: Any, idx: int, info: dict,
                backend_args: Optional[dict]) -> Optional[str]:
    """The problem of one item, :data:`EXIF_ROTATED` or None."""
    path = info['img_path']
    try:
        img_bytes = fileio.get(path, backend_args=backend_args)
        stored = decode_fully(img_bytes)
    except Exception as e:  # any decoder error makes the image unusable
        return f'cannot be decoded: {e}'
    try:
        item = dataset[idx]
    except Exception as e:  # the pipeline's own error, as training gets it
        return f'{type(e).__name__}: {e}'
    annotated = (info.get('height'), info.get('width'))
    if stored != annotated and stored == annotated[::-1] and \
            exif_orientation(img_bytes) in EXIF_TRANSPOSING:
        return EXIF_ROTATED
    del item
    return None


def dataset_configs(cfg: Any, splits: Sequence[str]) -> List[Tuple[str, dict]]:
    """The dataset configs of ``splits`` (``'train'``, ``'val'``,
    ``'test'``) of a full config, with the dataset wrappers unwrapped.

    Args:
        cfg (Config): A training / test config.
        splits (Sequence[str]): The splits to check.

    Returns:
        list[tuple[str, dict]]: ``(split, dataset config)`` pairs; a split
        without a dataloader is skipped.
    """
    from posesor.utils.config import base_datasets
    found = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for dataset in base_datasets(loader.get('dataset')):
            found.append((split, dict(dataset)))
    return found


class DatasetCheckError(RuntimeError):
    """Some images of a dataset cannot be used (see the reports)."""


def check_config(cfg: Any,
                 splits: Sequence[str],
                 progress: bool = True,
                 raise_on_problems: bool = False) -> List[DatasetReport]:
    """Check the datasets of ``splits`` of a config (a dataset config
    shared by several splits is checked once) and print each report.

    Args:
        cfg (Config): The config (overrides applied).
        splits (Sequence[str]): ``'train'``, ``'val'`` and/or ``'test'``.
        progress (bool): Show progress bars. Defaults to True.
        raise_on_problems (bool): Raise :class:`DatasetCheckError` when an
            image cannot be used. Defaults to False.

    Returns:
        list[DatasetReport]: One report per distinct dataset.
    """
    reports: List[DatasetReport] = []
    seen: List[dict] = []
    for split, dataset_cfg in dataset_configs(cfg, splits):
        key = {k: v for k, v in dataset_cfg.items() if k != 'pipeline'}
        if key in seen:
            continue
        seen.append(key)
        print(f'Checking the {split} dataset ...', flush=True)
        report = check_sor_dataset(dataset_cfg, progress=progress)
        print(report.to_text(), flush=True)
        reports.append(report)
    bad = sum(len(r.problems) for r in reports)
    if raise_on_problems and bad:
        raise DatasetCheckError(f'{bad} image(s) cannot be used: ' + '; '.join(
            f'{r.name}: image id {i!r} ({p}): {m}' for r in reports
            for i, p, m in r.problems[:3]))
    return reports
