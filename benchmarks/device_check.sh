#!/usr/bin/env bash
# What a GPU machine is for, in one go: the CUDA tests (tests/training/test_cuda.py), then the training benchmarks
# under --device cuda (pretraining fp32 / bf16 / bf16 at batch 128 / bf16 compiled; full fine-tuning of both tasks).
#
#   bash benchmarks/device_check.sh [OUT]      # everything goes to the screen and to OUT/device_check.log
#
# Needs torch with CUDA and the project importable (pip install -e ., or PYTHONPATH=src plus kedro, which the
# project's datasets import). DEVICE=cpu ROUNDS=1 runs the same script on a CPU as a dry run; COMPILE=0 skips the
# compiled step (its compilation takes ~2 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-device_check}
mkdir -p "$out"
log="$out/device_check.log"
: >"$log"
device=${DEVICE:-cuda}
rounds=${ROUNDS:-5}
export PYTHONUNBUFFERED=1 KEDRO_DISABLE_TELEMETRY=true PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
say() { echo "$@" | tee -a "$log"; }
run() {  # run LIMIT_S CMD...: one step, its output in the log, cut off at LIMIT_S seconds
    local limit=$1
    shift
    say "== $* ($(date -u +%H:%M:%S))"
    timeout "$limit" "$@" 2>&1 | grep -v '^USDT:' | tee -a "$log"
    say "== exit ${PIPESTATUS[0]}"
}
if [ "$device" = cuda ]; then
    run 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
fi
run 60 python3 -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
run 240 python3 -m pytest -p no:cacheprovider -q -s tests/training/test_cuda.py
common=(--device "$device" --rounds "$rounds")
run 150 python3 benchmarks/bench_pretrain.py "${common[@]}" --amp off
run 150 python3 benchmarks/bench_pretrain.py "${common[@]}" --amp auto
run 150 python3 benchmarks/bench_pretrain.py "${common[@]}" --amp auto --batch 128
run 150 python3 benchmarks/bench_finetune.py "${common[@]}" --amp auto --task action_segmentation
run 150 python3 benchmarks/bench_finetune.py "${common[@]}" --amp auto --task semantic_segmentation
if [ "${COMPILE:-1}" != 0 ]; then
    run 240 python3 benchmarks/bench_pretrain.py "${common[@]}" --amp auto --compile
fi
