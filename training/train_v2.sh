#!/usr/bin/env bash
# Fine-tune the 0.1.0 networks on the grown v1 factory data (warm start from their checkpoints,
# fresh schedule, black-and-white augmentation for NormalNet), one net after another on one
# core so the factory keeps the other. Resumable: run it again to go on; a finished net is
# skipped. The 0.1.0 runs (and the landmark ablation) stay untouched in ~/.cache/relit/ckpt.
# NETS picks the nets and their order; two lanes must not share a net.
#   nohup training/train_v2.sh >> ~/.cache/relit/ckpt/v2/train.log 2>&1 &
#   NETS="albedo specular" nohup training/train_v2.sh >> ~/.cache/relit/ckpt/v2/lane_b.log 2>&1 &
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-.venv-train/bin/python}
SYNTH=${RELIT_SYNTH_ROOT:-$HOME/.cache/relit/synth}
V1=${RELIT_CKPT_ROOT:-$HOME/.cache/relit/ckpt}
V2=$V1/v2
DATA=("$SYNTH/v1" "$SYNTH/v1-extra")
NORMAL_STEPS=${NORMAL_STEPS:-3000}
MAP_STEPS=${MAP_STEPS:-2000}
mkdir -p "$V2"
run() {  # run-name net steps size [extra args]
  local name=$1 net=$2 steps=$3 size=$4; shift 4
  echo "train_v2: $name start $(date -Is)"
  "$PY" -m training.train "$net" --data "${DATA[@]}" --steps "$steps" --size "$size" \
    --threads 1 --rescan --log-every 50 --lr 1e-3 --ckpt "$V2/$name" \
    --init "$V1/$net/last.pt" "$@" || { echo "train_v2: $name FAILED"; return 1; }
  echo "train_v2: $name done $(date -Is)"
}
for name in ${NETS:-normal albedo specular illum render}; do
  case $name in
    normal) run normal normal "$NORMAL_STEPS" 256 || exit 1 ;;
    # the same run with the prior perturbed (training.data.PRIOR_AUG), to compare
    normal_pj) run normal_pj normal "$NORMAL_STEPS" 256 --prior-jitter || exit 1 ;;
    *) run "$name" "$name" "$MAP_STEPS" 128 || exit 1 ;;
  esac
done
echo "train_v2: done: ${NETS:-all} $(date -Is)"
