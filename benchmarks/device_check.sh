#!/usr/bin/env bash
# One call on a lent GPU machine: the CUDA tests, then the GPU benchmark (issues #7 and #13).
#
# Prepared here (see DEVELOPERS.md and the device tool's README): the wheels the device lacks in
# .whl/ and the MNIST test set in .data/mnist/, both ignored by git (.git/info/exclude):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl pynndescent==0.7.0 gguf==0.19.0 pyyaml
#   mkdir -p .data/mnist && cp ../shared/data/mnist/* .data/mnist/
# Then, with the device tool: run(command="bash benchmarks/device_check.sh", carry=[".whl",
# ".data"], timeout_s=590). Results land in $OUT (tests.log, and gpu-SECTION.json and .md for knn, transform, fits); without $OUT
# (a smoke test on the CPU: NO_WHEELS=1 DEVICE=cpu QUICK=1 bash benchmarks/device_check.sh) in
# ./device-out.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-device-out}"
mkdir -p "$out"
if [ -z "${NO_WHEELS:-}" ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
device="${DEVICE:-cuda}"
quick=()
[ -n "${QUICK:-}" ] && quick=(--quick)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"

# 1. the tests that need a GPU (they skip elsewhere), with a bound on their time
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/training/test_no_sync.py \
    2>&1 | tee "$out/tests.log"

# 2. the benchmark, one section a process so that a section past its budget (the 10^7 fit ran
# past a shared 330 s on an H200, 2026-12-04) loses only itself: k-NN at scale (exact vs IVF)
# and transform with a cap each, then the fits up to 10M with whatever is left of
# TOTAL_SECONDS (counted from the script's start; the device call's own limit is 600 s)
total="${TOTAL_SECONDS:-570}"
for section in knn:"${KNN_SECONDS:-90}" transform:"${TRANSFORM_SECONDS:-60}" fits:"$total"; do
    name="${section%%:*}"
    left=$((total - SECONDS))
    budget=$(( ${section##*:} < left ? ${section##*:} : left ))
    if [ "$budget" -le 5 ]; then echo "no time left for $name"; continue; fi
    timeout "$budget" python3 benchmarks/bench_gpu.py --device "$device" "${quick[@]}" \
        --mnist-dir .data/mnist --sections "$name" --json "$out/gpu-$name.json" \
        2>&1 | tee "$out/gpu-$name.md"
done
echo "device_check done"
