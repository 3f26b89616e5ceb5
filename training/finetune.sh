#!/usr/bin/env bash
# Fine-tune a set of trained networks on the factory's data as it stands: each run warm-starts
# (--init) from FROM/<net>/last.pt, or from the shipped ONNX file when FROM is a models folder,
# with a fresh schedule and writes its checkpoints to TO/<name>.
# Nets run one after another on one core, so a second lane (another NETS) or the factory can have
# the other. Resumable: run it again to go on; a finished run is skipped by train.py.
#
#   FROM  checkpoint root to start from (default ~/.cache/relit/ckpt, the 0.1.0 runs), or a
#         models folder (one with a manifest.json; FROM=models is the repository's): each net
#         then starts from its file there, read back by training.onnx_init, so no checkpoint
#         is needed ("albedo" starts from diffuse_net.onnx, which the albedo net ships as)
#   TO    checkpoint root of this round  (default FROM/next; from a models folder,
#         ~/.cache/relit/ckpt/next)
#   NETS  runs, in order (default: normal albedo specular illum render); two lanes must not
#         share a run. "normal_pj" is NormalNet trained on a perturbed prior (--prior-jitter,
#         training.data.PRIOR_AUG); "normal_cam" is NormalNet on the camera-space prior
#         (--camera-prior, inference.camera); NORMAL_FROM names the run in FROM that the
#         NormalNet runs start from (default normal).
#   NORMAL_STEPS / MAP_STEPS  steps (3000 at 256 px / 2000 at 128 px)
#   TRAIN_ARGS  more arguments for every training.train run (later ones win)
#   Data: RELIT_SYNTH_ROOT/v1, and v1-extra where it exists.
#
# Models 0.2.0:  FROM=~/.cache/relit/ckpt TO=~/.cache/relit/ckpt/v2 training/finetune.sh
#   (how 0.2.0 was trained)
# IllumNet 0.2.1: FROM=~/.cache/relit/ckpt/v2 TO=~/.cache/relit/ckpt/v2b NETS=illum MAP_STEPS=1500
# Models 0.3.0 (normal, albedo, specular): FROM=~/.cache/relit/ckpt/shipped
#   TO=~/.cache/relit/ckpt/v3 training/finetune.sh in two lanes (NETS=normal; MAP_STEPS=4000
#   NETS=albedo, then NETS="specular illum"), where shipped/<net> links to the run behind each
#   shipped model (now v3/normal, v3/albedo, v3/specular, v2b/illum, v2c/render).
# From what is on main, with no checkpoint (a new machine): FROM=models training/finetune.sh
#   (a relative FROM or TO is taken from the repository's root)
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-.venv-train/bin/python}
CACHE=${RELIT_CACHE:-$HOME/.cache/relit}
SYNTH=${RELIT_SYNTH_ROOT:-$CACHE/synth}
FROM=${FROM:-$CACHE/ckpt}
if [ -f "$FROM/manifest.json" ]; then
  ONNX=1
  TO=${TO:-$CACHE/ckpt/next}
else
  ONNX=
  TO=${TO:-$FROM/next}
fi
DATA=("$SYNTH/v1")
[ -d "$SYNTH/v1-extra" ] && DATA+=("$SYNTH/v1-extra")
NORMAL_STEPS=${NORMAL_STEPS:-3000}
MAP_STEPS=${MAP_STEPS:-2000}
NORMAL_FROM=${NORMAL_FROM:-normal}
mkdir -p "$TO"
run() {  # run-name net init-run steps size [extra args]
  local name=$1 net=$2 init=$3 steps=$4 size=$5; shift 5
  local from="$FROM/$init/last.pt"
  [ -n "$ONNX" ] && from=$FROM  # train.py picks the net's file in the models folder
  echo "finetune: $name start $(date -Is) (from $from)"
  "$PY" -m training.train "$net" --data "${DATA[@]}" --steps "$steps" --size "$size" \
    --threads 1 --rescan --log-every 50 --lr 1e-3 --ckpt "$TO/$name" \
    --init "$from" "$@" $TRAIN_ARGS || { echo "finetune: $name FAILED"; return 1; }
  echo "finetune: $name done $(date -Is)"
}
for name in ${NETS:-normal albedo specular illum render}; do
  case $name in
    normal) run normal normal "$NORMAL_FROM" "$NORMAL_STEPS" 256 || exit 1 ;;
    normal_pj) run normal_pj normal "$NORMAL_FROM" "$NORMAL_STEPS" 256 --prior-jitter || exit 1 ;;
    normal_cam) run normal_cam normal "$NORMAL_FROM" "$NORMAL_STEPS" 256 --camera-prior || exit 1 ;;
    *) run "$name" "$name" "$name" "$MAP_STEPS" 128 || exit 1 ;;
  esac
done
echo "finetune: done: ${NETS:-all} -> $TO $(date -Is)"
