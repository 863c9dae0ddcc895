#!/usr/bin/env bash
# One-command setup of the verified OpenMMLab stack in ./.venv (see README).
#
# Idempotent: every step checks whether its result is already there. The
# mmcv wheel (a patched source build, ~9 minutes on 2 cores) is cached
# outside the checkout, keyed by the mmcv, torch and Python versions.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3.11}
CONSTRAINTS=$ROOT/requirements/constraints.txt
CACHE_DIR=${POSESOR_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/posesor/wheels}

pin() {  # pin NAME -> the version pinned in requirements/constraints.txt
    sed -n "s/^$1==\(.*\)$/\1/p" "$CONSTRAINTS"
}

STEP=""
step() { STEP=$1; echo "==> [setup] $STEP"; }
trap 'echo "!!! [setup] FAILED at step: $STEP" >&2' ERR

TORCH=$(pin torch); MMCV=$(pin mmcv)

step "create virtual environment $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY=$VENV/bin/python
PIP="$PY -m pip --disable-pip-version-check"
PYVER=$($PY -c 'import sys; print("%d%d" % sys.version_info[:2])')

installed() {  # installed NAME VERSION -> true when that exact version is installed
    [ "$($PY -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]
}

step "torch $TORCH + torchvision $(pin torchvision) (from local disk)"
if ! installed torch "$TORCH" || ! installed torchvision "$(pin torchvision)"; then
    $PIP install -c "$CONSTRAINTS" torch torchvision
fi

step "build tools (setuptools, pinned below 80; wheel, ninja, numpy)"
$PIP install -q -c "$CONSTRAINTS" setuptools wheel ninja numpy

MMCV_WHEEL_DIR=$CACHE_DIR/mmcv-$MMCV-torch-$TORCH-py$PYVER
if ! installed mmcv "$MMCV"; then
    if ! ls "$MMCV_WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        step "build mmcv $MMCV with CPU ops from source (takes ~9 minutes on 2 cores, once per machine)"
        SRC=$(mktemp -d)
        $PIP download -q --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$MMCV" -d "$SRC"
        tar -xzf "$SRC"/mmcv-*.tar.gz -C "$SRC"
        # torch >= 2.10 headers require C++20.
        sed -i 's/-std=c++17/-std=c++20/g' "$SRC/mmcv-$MMCV/setup.py"
        mkdir -p "$MMCV_WHEEL_DIR.tmp"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
            $PIP wheel --no-build-isolation --no-deps "$SRC/mmcv-$MMCV" -w "$MMCV_WHEEL_DIR.tmp"
        rm -rf "$MMCV_WHEEL_DIR" && mv "$MMCV_WHEEL_DIR.tmp" "$MMCV_WHEEL_DIR"
        rm -rf "$SRC"
    fi
    step "install cached mmcv wheel from $MMCV_WHEEL_DIR"
    $PIP install --no-deps "$MMCV_WHEEL_DIR"/mmcv-*.whl
fi

step "mmcv runtime deps, mmengine, mmdet, mmpretrain, pycocotools"
$PIP install -q -c "$CONSTRAINTS" "mmcv==$MMCV" mmengine mmdet mmpretrain pycocotools \
    --find-links "$MMCV_WHEEL_DIR"

step "mmpose $(pin mmpose) without chumpy, xtcocotools from source"
if ! installed mmpose "$(pin mmpose)"; then
    $PIP install -q --no-deps -c "$CONSTRAINTS" mmpose
fi
$PIP install -q -c "$CONSTRAINTS" json_tricks munkres
if ! installed xtcocotools "$(pin xtcocotools)"; then
    # The binary wheel is built against numpy 1 and breaks with numpy 2.
    $PIP install -q -c "$CONSTRAINTS" --no-binary xtcocotools --no-build-isolation xtcocotools
fi

step "posesor (editable) with the test and web-demo extras"
$PIP install -q -c "$CONSTRAINTS" --no-build-isolation -e "$ROOT[tests,web]" \
    --find-links "$MMCV_WHEEL_DIR"

step "check that the stack imports"
$PY -c "import posesor, mmcv.ops, mmdet.models, mmpretrain.models, mmpose.apis, gradio; print('stack OK: posesor', posesor.__version__)"
trap - ERR
echo "==> [setup] done: $VENV"
