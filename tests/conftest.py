# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Shared pytest fixtures."""
import pytest

# Small synthetic dataset used across the test suite (fast to generate).
SYNTHETIC_NUM_TRAIN = 8
SYNTHETIC_NUM_TEST = 4
SYNTHETIC_SIZE = 96
SYNTHETIC_SEED = 0


@pytest.fixture(scope='session')
def synthetic_dataset(tmp_path_factory) -> str:
    """Generate a tiny synthetic SOR dataset once per session.

    Returns:
        str: Dataset root holding ``synthetic_train.json`` (8 images),
        ``synthetic_test.json`` (4 images) and ``images/{train,test}/``
        (96 x 96 JPEGs).
    """
    from posesor.datasets.synthetic import generate_synthetic_sor
    root = tmp_path_factory.mktemp('synthetic_sor')
    generate_synthetic_sor(
        str(root),
        num_train=SYNTHETIC_NUM_TRAIN,
        num_test=SYNTHETIC_NUM_TEST,
        size=SYNTHETIC_SIZE,
        seed=SYNTHETIC_SEED)
    return str(root)
