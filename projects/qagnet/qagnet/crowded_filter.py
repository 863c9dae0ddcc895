# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet's IRSR training filter: images with many objects are skipped."""
from typing import List

from mmdet.registry import DATASETS
from mmengine.logging import print_log

from posesor.datasets import SORDataset
from posesor.datasets.sor_parsing import SORAnnotationError


@DATASETS.register_module()
class MaxInstancesSORDataset(SORDataset):
    """:class:`~posesor.datasets.SORDataset` that, for training, also drops
    the images with more than ``max_instances`` objects (QAGNet's IRSR
    loader skips the training images with more than 8 annotations). The
    dropped images are counted in :attr:`num_crowded_images`; test mode
    keeps every image.

    Args:
        max_instances (int): Most objects (the instances the dataset loads)
            a training image may have.
        **kwargs: :class:`~posesor.datasets.SORDataset`'s arguments.
    """

    def __init__(self, *args, max_instances: int, **kwargs) -> None:
        if max_instances < 1:
            raise ValueError('MaxInstancesSORDataset: max_instances must be '
                             f'>= 1, got {max_instances}')
        # set before SORDataset's __init__, which filters the data
        self.max_instances = max_instances
        self.num_crowded_images = 0
        super().__init__(*args, **kwargs)

    def filter_data(self) -> List[dict]:
        """SORDataset's filter, then the crowded images (training only).

        Returns:
            list[dict]: The kept data infos.

        Raises:
            SORAnnotationError: If no image is left.
        """
        kept = super().filter_data()
        if self.test_mode:
            return kept
        sparse = [
            info for info in kept
            if len(info['instances']) <= self.max_instances
        ]
        self.num_crowded_images = len(kept) - len(sparse)
        if not sparse:
            raise SORAnnotationError(
                f'{self.ann_file}: every one of the {len(kept)} training '
                f'image(s) has more than {self.max_instances} objects; '
                'nothing to train on')
        print_log(
            f'{self.ann_file}: {self.num_crowded_images} training image(s) '
            f'with more than {self.max_instances} objects skipped, '
            f'{len(sparse)} kept',
            logger='current')
        return sparse
