#!/usr/bin/env bash
# The checks for a lent GPU machine (16 cores, an NVIDIA GPU, no network, no
# TensorFlow): kmon's GPU panel on real NVML, and kmon's training overhead on a
# quiet machine with cores to spare, on Keras's torch backend. Run from the
# repository root with the wheels in .whl/ (docs/benchmarks.md, "On a lent GPU
# machine", says how they are gathered); figures and screens go to $OUT.
#
#   benchmarks/device/run.sh            # all of it, about 6 minutes
#   ROUNDS=2 EPOCHS=1 benchmarks/device/run.sh   # a rehearsal
set -u
OUT=${OUT:-/tmp/kmon-device}
ROUNDS=${ROUNDS:-12}
EPOCHS=${EPOCHS:-1}
# Seconds of rounds for each workload: the benchmark reports the rounds done then.
BUDGET=${BUDGET:-100}
REPO=$PWD
mkdir -p "$OUT"
if [ -z "${KMON_DEVICE_SITE:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
# torch takes its intra-op threads from OpenMP. One each is the one-thread
# mode; with the default (16 a process) the waiting contenders' OpenMP threads spin
# between ops, and the first lease read a load of 18 on 16 cores.
export KERAS_BACKEND=${KERAS_BACKEND:-torch} PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

{
    date -u
    # --all: nproc heeds OMP_NUM_THREADS, which is 1 below.
    echo "nproc $(nproc --all)"
    nvidia-smi -L 2>&1
    python3 -c 'import sys, keras, numpy; print("python", sys.version.split()[0], "keras", keras.__version__, "numpy", numpy.__version__, "backend", keras.backend.backend())'
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
    uptime
} 2>&1 | tee "$OUT/machine.txt"

echo "== GPU panel and NVML (pytest)"
(cd /tmp && KMON_GPU_SCREEN="$OUT/gpu_screen.txt" timeout 300 python3 -m pytest \
    -p no:cacheprovider -o addopts="" -q -rs --rootdir="$REPO" -c "$REPO/pyproject.toml" \
    "$REPO/tests/e2e/test_gpu_panel.py" "$REPO/tests/engine/test_system_sampler.py" \
    -k "real_nvml or gpu_while") 2>&1 | tee "$OUT/gpu_tests.txt"

# The 1 ms MLP on the CPU (the GPU hidden), then the same on the GPU.
for where in cpu gpu; do
    echo "== training overhead, MLP on the $where"
    visible=${CUDA_VISIBLE_DEVICES-}
    [ "$where" = cpu ] && visible=""
    CUDA_VISIBLE_DEVICES=$visible timeout 240 python3 benchmarks/training_overhead.py \
        --rounds "$ROUNDS" --epochs "$EPOCHS" --budget "$BUDGET" \
        --configs plain-again,kmon,headless,meter \
        --save "$OUT/overhead_$where.json" 2>&1 | tee "$OUT/overhead_$where.txt"
done
uptime
