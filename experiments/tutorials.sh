#!/usr/bin/env bash
# Queue the five tutorials' setups as named DVC experiments, run them one at a time, and print
# the comparison table. Run from the repository root after `make repro` (or `make venv`):
#   bash experiments/tutorials.sh            # all five
#   bash experiments/tutorials.sh tut-64     # only the ones named
# Each experiment sets every param in which it differs from params.yaml; everything else
# (data, split seed, float32 engine) is shared. Runs are sequential (-j 1): training uses both
# cores, and the README quotes their timings.
set -euo pipefail
cd "$(dirname "$0")/.."
DVC="${DVC:-.venv/bin/dvc}"

# name | params
EXPERIMENTS=(
  # 784-10-10, uniform +-0.5 init, full-batch GD at lr 0.1 for 500 iterations, 1000-row dev set.
  "tut-2layer-10|prepare.dev_size=1000 onehot.label_smoothing=0.0 model.hidden=[10] model.init=uniform train.optimizer=sgd train.lr=0.1 train.batch_size=full train.epochs=500 train.schedule=constant"
  # 784-128-64-10, He init, full-batch GD for 120 epochs.
  "tut-128-64|onehot.label_smoothing=0.0 model.hidden=[128,64] model.init=he train.optimizer=sgd train.lr=0.5 train.batch_size=full train.epochs=120 train.schedule=constant"
  # 784-64-64-10, shuffled mini-batch GD, 1000-row dev set.
  "tut-64-64|prepare.dev_size=1000 onehot.label_smoothing=0.0 model.hidden=[64,64] train.optimizer=sgd train.lr=0.1 train.batch_size=32 train.epochs=20 train.schedule=constant"
  # 784-64-10, gradient descent on mini-batches.
  "tut-64|onehot.label_smoothing=0.0 model.hidden=[64] train.optimizer=sgd train.lr=0.1 train.batch_size=64 train.epochs=10 train.schedule=constant"
  # 784-128-10 sigmoid, sigmoid outputs with squared error, Xavier init, batch 128, lr 0.01, 15 epochs.
  "tut-sigmoid-mse|onehot.label_smoothing=0.0 model.hidden=[128] model.activation=sigmoid model.output=sigmoid_mse model.init=xavier train.optimizer=sgd train.lr=0.01 train.batch_size=128 train.epochs=15 train.schedule=constant"
)

wanted=("$@")
queued=0
for entry in "${EXPERIMENTS[@]}"; do
  name="${entry%%|*}"
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
    continue
  fi
  args=()
  for setting in ${entry#*|}; do args+=(-S "$setting"); done
  "$DVC" exp remove "$name" >/dev/null 2>&1 || true
  "$DVC" exp run --queue -n "$name" "${args[@]}"
  queued=$((queued + 1))
done
[ "$queued" -gt 0 ] || { echo "no experiment matches: $*" >&2; exit 2; }

"$DVC" exp run --run-all -j 1
"$DVC" exp show --md --drop 'per_class|\.macro_f1|train_loss|dev_loss|\.loss' --only-changed
