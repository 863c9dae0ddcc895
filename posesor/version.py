# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string like ``'0.1.0rc1'`` into a tuple."""
    parts = []
    for x in version_str.split('.'):
        if x.isdigit():
            parts.append(int(x))
        elif 'rc' in x:
            major, rc = x.split('rc')
            parts.extend([int(major), f'rc{rc}'])
    return tuple(parts)


version_info = parse_version_info(__version__)
