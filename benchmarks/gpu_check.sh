#!/usr/bin/env bash
# The GPU check in one command (issue 34): every step writes its log under $OUT (default: a new private directory
# mktemp makes under /tmp, printed at the end; a given $OUT that is a symbolic link is refused).
#
#   bash benchmarks/gpu_check.sh             on a CUDA machine: the full check, about 12 minutes on an H200
#   bash benchmarks/gpu_check.sh --dry-run   every step at tiny sizes on the CPU (CI runs this), about 1 minute
#
# Steps: 1. the CUDA-only tests (skipped on a CPU) and the Triton interpreter test;
#        2. the Triton drift against the float64 reference (gamma 0 and -3, d 2 and 3, float64 1e-12 and
#           float32 1e-5) and its pair rate at N = 64,000, d = 3, float32 (bench_drift_fused.py);
#        3. one PINN-PM training iteration, groups A and B, N = 1,000, 16 times, batched against naive;
#        4. the paper profile on bkw2d: sbp, blob, pinn_pm_particle, pinn_pm_score with --cell-timeout and
#           PINN-PM's iterations capped (PINN_ITERS) so the whole script fits the device budget.
# A step that fails is reported and the next one still runs; the exit code is the number of failed steps.
# Run it from the repository root with the project installed (pip install -e '.[test,triton]').
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
[ -L "$OUT" ] && { echo "OUT=$OUT is a symbolic link: give a directory of its own"; exit 2; }
mkdir -p "$OUT"
export PYTHONPATH=.
failed=0
skipped=0

step() {  # step NAME COMMAND...: run it with its output in $OUT/NAME.log, say how it ended
  local name=$1; shift
  local start; start=$(date +%s)
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  if [ $rc -eq 3 ]; then  # the step had nothing to check here (an optional extra missing): said, not passed
    echo "== $name: skipped in $(( $(date +%s) - start )) s (log: $OUT/$name.log)"
    skipped=$((skipped + 1))
  else
    echo "== $name: exit $rc in $(( $(date +%s) - start )) s (log: $OUT/$name.log)"
    [ $rc -eq 0 ] || failed=$((failed + 1))
  fi
  tail -n 12 "$OUT/$name.log" | sed 's/^/   /'
}

if [ $DRY -eq 1 ]; then
  DEVICE=cpu; PROFILE=smoke; N_DRIFT=2000; N_PINN=50; TIMES=2; REPEATS=1; PINN_ITERS=10; TIMEOUT=120; N_ACC=64
else
  DEVICE=cuda; PROFILE=paper; N_DRIFT="16000 64000"; N_PINN=1000; TIMES=16; REPEATS=10; TIMEOUT=${TIMEOUT:-240}
  PINN_ITERS=${PINN_ITERS:-2000}; N_ACC=3000
  python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "no CUDA device: use --dry-run on a CPU"; exit 2; }
fi
python - <<'PY' > "$OUT/machine.txt" 2>&1
import platform, torch
print("torch", torch.__version__, "python", platform.python_version(), "host", platform.node())
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
cat "$OUT/machine.txt"

step cuda_tests python -m pytest -q -rs -p no:cacheprovider tests/test_drift.py tests/test_fused_drift.py -k "cuda or triton"
step triton_accuracy python benchmarks/gpu_drift_accuracy.py --device "$DEVICE" --n "$N_ACC"
# shellcheck disable=SC2086  # N_DRIFT is a list of sizes
step drift_rate python benchmarks/bench_drift_fused.py --device "$DEVICE" --n $N_DRIFT --d 3 --dtype float32 \
  --naive-max 16000 --repeats 2
for group in A B; do
  step "pinn_iteration_$group" python benchmarks/bench_pinn_iteration.py --device "$DEVICE" --group "$group" \
    --n "$N_PINN" --times "$TIMES" --repeats "$REPEATS"
done
rm -rf "$OUT/paper-bkw2d"
step "run_${PROFILE}_bkw2d" python -m harness run --profile "$PROFILE" -p bkw2d --device "$DEVICE" -s sbp -s blob \
  -s pinn_pm_particle -s pinn_pm_score --set "pinn_pm_particle.iters=$PINN_ITERS" \
  --set "pinn_pm_score.iters=$PINN_ITERS" --cell-timeout "$TIMEOUT" --jobs 1 --quiet --out "$OUT/paper-bkw2d"
echo "gpu_check: $failed step(s) failed, $skipped skipped; results under $OUT"
exit $failed
