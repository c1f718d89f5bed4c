#!/usr/bin/env bash
# The GPU check of trainers/, in one go (about 8 minutes at most on one H100/H200; each step has its own
# time limit, so a slow step cannot eat the next one's time):
#   1. env          the GPU, driver, torch, CUDA, cuDNN and triton versions
#   2. cuda_tests   tests/trainers/test_trainers_cuda.py: packed = single in fp32 (TF32 off), forward pass and
#                   first SGD steps, for every packing route; bf16 learns; no host sync in a training step;
#                   torch.compile against eager; a tiny grid killed with SIGKILL and resumed
#   3. bench        images/s at widths 16 and 32: single vs packs of K = 4, 8, 16 for the three routes, cuDNN
#                   autotuning on and off, and the projected time of examples/cifar_cinic_grid.toml
#   4. bench_compile the same projection with torch.compile (reduce-overhead: CUDA graphs) at K = 8
# Every output goes to OUT_DIR (default gpu_check/): summary.txt, one .txt per step, cuda_tests.xml.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]
#   GPU_CHECK_SMOKE=1 bash benchmarks/gpu_check.sh OUT_DIR    # the same steps, tiny, on any machine
#
# Run from the repository root with a python that has torch (CUDA build), numpy, pillow, typer, rich and
# pytest; PYTHON picks the interpreter (default python3).
set -u
OUT=${1:-gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
: > "$OUT/summary.txt"

if [ -n "${GPU_CHECK_SMOKE:-}" ]; then  # tiny sizes: checks that every step runs, measures nothing
    DEVICE=cpu; SCALE=(--batch 16 --steps 2 --repeats 1 --eval-images 100 --packs 2); LIMIT=600
    COMPILE=off  # compiling on a CPU takes minutes; the unit tests cover the compiled step there
else
    DEVICE=cuda; SCALE=(--batch 512 --steps 30 --repeats 3 --eval-images 10000 --packs 4 8 16); LIMIT=0
    COMPILE=reduce-overhead
fi

step() {  # step NAME SECONDS COMMAND...: run with a time limit, output to OUT/NAME.txt, a line in summary.txt
    local name=$1 limit=$2 start rc
    shift 2
    [ "$LIMIT" -gt 0 ] && limit=$LIMIT
    echo "== $name (limit ${limit} s): $*" | tee -a "$OUT/summary.txt"
    start=$(date +%s)
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    rc=$?
    echo "   exit $rc$([ $rc -eq 124 ] && echo ' (time limit)') after $(( $(date +%s) - start )) s" | tee -a "$OUT/summary.txt"
    tail -n 3 "$OUT/$name.txt" | sed 's/^/   | /' | tee -a "$OUT/summary.txt"
}

step env 30 bash -c "nvidia-smi || true; $PY -c 'import torch, platform
print(\"python\", platform.python_version(), \"torch\", torch.__version__, \"cuda\", torch.version.cuda,
      \"cudnn\", torch.backends.cudnn.version(), \"gpu\", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
try:
    import triton; print(\"triton\", triton.__version__)
except ImportError:
    print(\"triton missing: torch.compile will fall back to eager on CUDA\")'"
step cuda_tests 180 "$PY" -m pytest -p no:cacheprovider -m cuda -rA --durations=10 \
    --junitxml="$OUT/cuda_tests.xml" tests/trainers/test_trainers_cuda.py
step bench 150 "$PY" benchmarks/bench_trainers.py --device "$DEVICE" "${SCALE[@]}" --grid examples/cifar_cinic_grid.toml
step bench_compile 120 "$PY" benchmarks/bench_trainers.py --device "$DEVICE" "${SCALE[@]}" --packs 8 --routes grouped \
    --cudnn on --compile "$COMPILE" --grid examples/cifar_cinic_grid.toml
echo "outputs in $OUT/" | tee -a "$OUT/summary.txt"
