# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Packaging of posesor.

Runtime requirements are ranges (``requirements/runtime.txt`` and
``requirements/mminstall.txt``) so that ``pip install -e .`` or
``mim install -e .`` into an existing OpenMMLab environment never reinstalls
torch or mmcv. The exact, verified stack is pinned in
``requirements/constraints.txt`` and installed by ``make install``.

As OpenMMLab's own packages do, ``configs/``, ``tools/`` and
``model-index.yml`` are exposed as ``posesor/.mim/...`` (symlinks for
editable installs, copies for wheels) so that ``mim train posesor CONFIG``
finds the configs and ``mim search posesor`` / ``mim list`` the models
(``model-index.yml`` imports ``configs/metafile.yml``).
"""
import os
import os.path as osp
import platform
import shutil
import sys
import warnings
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'requirements', 'requirements.txt',
             'model-index.yml')


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'posesor', 'version.py')) as f:
        exec(compile(f.read(), 'posesor/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Read requirement specifiers from a file, following ``-r`` includes."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                reqs += parse_requirements(
                    osp.join(osp.dirname(fname),
                             line.split(' ', 1)[1]))
            else:
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Expose configs/tools under ``posesor/.mim`` for ``mim``.

    Editable installs (``pip install -e .``) get symlinks, wheels and sdists
    get copies.
    """
    if 'develop' in sys.argv or any('editable' in a for a in sys.argv):
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'posesor', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        tar = osp.join(mim_path, name)
        if osp.isfile(tar) or osp.islink(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink' and platform.system() != 'Windows':
            os.symlink(osp.relpath(src, mim_path), tar)
        elif osp.isfile(src):
            shutil.copyfile(src, tar)
        elif osp.isdir(src):
            shutil.copytree(src, tar)
        else:
            warnings.warn(f'Cannot copy {src} into posesor/.mim')


if __name__ == '__main__':
    add_mim_extension()
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        long_description = f.read()
    setup(
        name='posesor',
        version=get_version(),
        description='PoseSOR (ECCV 2024) salient object ranking for '
        'OpenMMLab',
        long_description=long_description,
        long_description_content_type='text/markdown',
        keywords='salient object ranking, human pose, mmdetection',
        packages=find_packages(
            exclude=('configs', 'tools', 'tests', 'projects')),
        include_package_data=True,
        package_data={'posesor': ['.mim/**/*']},
        python_requires='>=3.8',
        license='Apache License 2.0',
        classifiers=[
            'Programming Language :: Python :: 3',
            'License :: OSI Approved :: Apache Software License',
        ],
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'all': parse_requirements('requirements.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
            'optional': parse_requirements('requirements/optional.txt'),
            'mim': parse_requirements('requirements/mminstall.txt'),
            'web': parse_requirements('requirements/web.txt'),
        },
        zip_safe=False)
