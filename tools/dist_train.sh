#!/usr/bin/env bash
# Distributed training with torchrun. On a machine without CUDA the GPUS
# argument is the number of CPU processes (gloo, chosen by train.py).
#   Single node:  bash tools/dist_train.sh CONFIG GPUS [train.py options]
#   Multi node:   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 \
#                 bash tools/dist_train.sh CONFIG GPUS [train.py options]
#                 (run on every node with its own NODE_RANK)
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS_PER_NODE [train.py options]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
