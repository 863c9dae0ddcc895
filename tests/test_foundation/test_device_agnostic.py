# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Model, loss and post-processing code creates tensors on its inputs'
device: the usual cause of the first GPU crash is a ``torch.zeros(n)``
that lands on the CPU while everything else is on ``cuda``.

A static scan (AST) of ``posesor/models``, ``posesor/engine`` and every
project package flags

- a tensor factory (``torch.zeros``, ``ones``, ``full``, ``empty``,
  ``arange``, ``linspace``, ``logspace``, ``eye``, ``tensor``,
  ``as_tensor``, ``rand``, ``randn``, ``randint``, ``randperm``) called
  without ``device=``; derived tensors (``x.new_zeros``, ``torch.zeros_like``)
  are fine;
- ``torch.from_numpy(...)`` not followed directly by ``.to(...)``;
- a hard-coded CUDA device (``.cuda()``, ``'cuda'`` or ``'cuda:N'``);

except parameter and buffer initialisers (``nn.Parameter(...)``,
``register_buffer(...)``: they move with ``model.to(device)``) and the
allow-list below, each entry with its reason.
"""
import ast
import glob
import os.path as osp
from typing import Dict, Iterator, List, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FACTORIES = {
    'zeros', 'ones', 'full', 'empty', 'arange', 'linspace', 'logspace', 'eye',
    'tensor', 'as_tensor', 'rand', 'randn', 'randint', 'randperm'
}
#: Calls whose tensors become module state and move with ``.to(device)``.
STATE_WRAPPERS = {'Parameter', 'register_buffer'}
_M2F = 'projects/mask2former_sor/mask2former_sor/'
_QAGNET = 'projects/qagnet/qagnet/'
#: (file relative to the repository, enclosing function, call) -> why the
#: call is device-safe.
ALLOWED: Dict[Tuple[str, str, str], str] = {
    (_M2F + 'rank_labels.py', 'forward', 'torch.as_tensor'):
    '`gt_instances.ranks` is already a tensor on the batch device (the data '
    'preprocessor moved the samples); as_tensor keeps its device',
    (_QAGNET + 'ckpt_convert.py', 'add_bn_counters', 'torch.tensor'):
    'a converter writes a CPU state dict; load_state_dict copies it onto '
    'the model\'s device',
}


def scanned_files() -> List[str]:
    """Model, loss, engine and post-processing modules (not tools/tests)."""
    files = glob.glob(
        osp.join(REPO, 'posesor', 'models', '**', '*.py'), recursive=True)
    files += glob.glob(
        osp.join(REPO, 'posesor', 'engine', '**', '*.py'), recursive=True)
    for package in glob.glob(
            osp.join(REPO, 'projects', '*', '*', '__init__.py')):
        folder = osp.dirname(package)
        if osp.basename(folder) not in ('configs', 'tools'):
            files += glob.glob(osp.join(folder, '**', '*.py'), recursive=True)
    return sorted(osp.relpath(f, REPO) for f in files)


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name):
            return f'{func.value.id}.{func.attr}'
        return f'.{func.attr}'
    return func.id if isinstance(func, ast.Name) else ''


def device_hazards(source: str, path: str) -> Iterator[Tuple[str, int, str]]:
    """Yield ``(enclosing function, line, call)`` of each hazard in
    ``source`` (the module's text; ``path`` names it in errors)."""
    tree = ast.parse(source, filename=path)
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def enclosing(node):
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node.name
        return '<module>'

    def in_state_wrapper(node) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.Call) and \
                    _call_name(node).split('.')[-1] in STATE_WRAPPERS:
                return True
        return False

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and (node.value == 'cuda' or node.value.startswith('cuda:')):
            yield enclosing(node), node.lineno, repr(node.value)
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name.split('.')[-1] == 'cuda' and name != 'torch.cuda':
            yield enclosing(node), node.lineno, '.cuda()'
        elif name == 'torch.from_numpy':
            parent = parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.attr == 'to'):
                yield enclosing(node), node.lineno, name
        elif name.startswith('torch.') and name[6:] in FACTORIES:
            if any(k.arg == 'device' for k in node.keywords):
                continue
            if not in_state_wrapper(node):
                yield enclosing(node), node.lineno, name


def test_scan_finds_each_hazard():
    """The scan flags what it should and passes what is safe."""
    source = '''
import torch
from torch import nn
class M(nn.Module):
    def __init__(self):
        self.p = nn.Parameter(torch.zeros(3))
        self.register_buffer('b', torch.arange(4))
    def forward(self, x, arr):
        a = torch.zeros(3)
        b = torch.arange(5, device=x.device)
        c = x.new_ones(2) + torch.ones_like(x)
        d = torch.from_numpy(arr)
        e = torch.from_numpy(arr).to(x.device)
        f = x.cuda()
        g = x.to('cuda:0')
        return torch.tensor([1.0])
'''
    found = [(fn, call) for fn, _, call in device_hazards(source, 'm.py')]
    assert sorted(found) == sorted([('forward', 'torch.zeros'),
                                    ('forward', 'torch.from_numpy'),
                                    ('forward', '.cuda()'),
                                    ('forward', "'cuda:0'"),
                                    ('forward', 'torch.tensor')])


def test_model_code_creates_tensors_on_the_input_device():
    files = scanned_files()
    assert any('pose_ranking_head' in f for f in files)
    assert any(f.startswith('projects/seqrank/') for f in files)
    hazards, used = [], set()
    for path in files:
        with open(osp.join(REPO, path)) as f:
            source = f.read()
        for func, line, call in device_hazards(source, path):
            if (path, func, call) in ALLOWED:
                used.add((path, func, call))
            else:
                hazards.append(f'{path}:{line} in {func}(): {call}')
    assert not hazards, 'tensors created without the inputs\' device ' \
        '(pass device=, use x.new_*/torch.*_like, or allow-list with a ' \
        'reason):\n' + '\n'.join(hazards)
    # an allow-list entry that no longer matches anything is stale
    assert used == set(ALLOWED), set(ALLOWED) - used
