#!/usr/bin/env bash
# The whole ENPAR pipeline in one command: annotate -> pre-train -> fine-tune BERT and ENPAR -> evaluate
# -> score (with the paired test) -> the app on the two checkpoints.
#
#   make demo DATA=../shared/data/scierc            # the full experiment (hours on this CPU)
#   make demo DATA=../shared/data/scierc QUICK=1    # every stage once: 6 min 12 s here (APP=0)
#   scripts/demo.sh                                 # the same, DATA defaulting to $ENPAR_DATA/scierc
#
# DATA is a folder with train / dev / test files in any format `enpar` reads (train.json, dev.jsonl, ...).
# Pre-training text = WikiText-2 (Wikipedia) + the text of DATA's train file (within-task; never dev/test).
# Everything goes to $OUT (default runs/demo, or runs/demo-quick); finished stages are skipped on a re-run,
# and an interrupted pre-training resumes. APP=0 skips launching Streamlit at the end.
#
# Knobs (environment): QUICK, DATA, OUT, SEEDS, PRESET, FT_EPOCHS, PT_STEPS,
# PT_ACCUMULATE, PT_LR, ENCODER, PORT, APP, PY. The full profile's defaults are the CPU experiment of
# scripts/pretrain_cpu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
ENPAR="$PY -m enpar.cli"
DATA_ROOT=${ENPAR_DATA:-../shared/data}
DATA=${DATA:-$DATA_ROOT/scierc}
WIKI=${WIKI:-$DATA_ROOT/wikitext2_raw}
QUICK=${QUICK:-0}
ENCODER=${ENCODER:-minilm}
PORT=${PORT:-8501}
APP=${APP:-1}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [[ "$QUICK" == "1" ]]; then
    OUT=${OUT:-runs/demo-quick}
    WIKI_FILES=${WIKI_FILES:-wiki.valid.raw}
    PT_STEPS=${PT_STEPS:-30}             # ~4 s per step of 32 instances: ~2-3 min
    PT_ACCUMULATE=${PT_ACCUMULATE:-1}
    PT_LR=${PT_LR:-2e-4}
    FT_EPOCHS=${FT_EPOCHS:-2}            # ~1 min per SciERC epoch (batch 8, 2 threads) with MiniLM here
    SEEDS=${SEEDS:-5216}
    INIT_AT=${INIT_AT:-100}              # fine-tune from the final checkpoint
else
    OUT=${OUT:-runs/demo}
    WIKI_FILES=${WIKI_FILES:-wiki.valid.raw wiki.test.raw}
    PT_STEPS=${PT_STEPS:-400}            # see scripts/pretrain_cpu.sh for the budget
    PT_ACCUMULATE=${PT_ACCUMULATE:-4}
    PT_LR=${PT_LR:-1e-4}
    SEEDS=${SEEDS:-5216 5217 5218}
    INIT_AT=${INIT_AT:-25}               # the paper fine-tunes from its 25% checkpoint
fi
# Fine-tuning: the preset that finetune_scierc.sh also uses (enpar/presets.py: the dev-tuned CPU budget and
# the document type vote in best/decoding.json); FT_EPOCHS (QUICK sets it) shortens its budget.
PRESET=${PRESET:-scierc-cpu}
FT_EPOCHS=${FT_EPOCHS:-}
epoch_args=()
if [[ -n "$FT_EPOCHS" ]]; then epoch_args=(--epochs "$FT_EPOCHS"); fi

split_file() {  # the train / dev / test file in DATA
    local f
    for f in "$DATA/$1".json "$DATA/$1".jsonl "$DATA/$1"; do
        [[ -f "$f" ]] && { echo "$f"; return; }
    done
    echo "error: no $1 file (.json/.jsonl) in $DATA" >&2
    exit 2
}
TRAIN=$(split_file train)
DEV=$(split_file dev)
TEST=$(split_file test)
mkdir -p "$OUT/corpus"
stamp() { echo "[$(date +%H:%M:%S)] $*"; }

# 1. annotate: spaCy NER on Wikipedia text and on the train split's own tokens
for f in $WIKI_FILES; do
    if [[ -f "$WIKI/$f" && ! -f "$OUT/corpus/${f%.raw}.jsonl" ]]; then
        stamp "annotate $WIKI/$f"
        $ENPAR annotate "$WIKI/$f" "$OUT/corpus/${f%.raw}.jsonl" --input-format wikitext --no-progress
    fi
done
if [[ ! -f "$OUT/corpus/train-text.jsonl" ]]; then
    stamp "annotate the text of $TRAIN (labels ignored)"
    $ENPAR annotate "$TRAIN" "$OUT/corpus/train-text.jsonl" --input-format dataset --no-progress
fi

# 2. pre-train (resumes an interrupted run)
PT="$OUT/pretrain"
if [[ ! -f "$PT/summary.json" ]] || ! grep -q "\"steps\": $PT_STEPS," "$PT/summary.json"; then
    RESUME=()
    [[ -d "$PT/state" ]] && RESUME=(--resume)
    stamp "pre-train $PT_STEPS steps"
    $ENPAR pretrain "$OUT/corpus" --out "$PT" --encoder "$ENCODER" --steps "$PT_STEPS" \
        --accumulate "$PT_ACCUMULATE" --lr "$PT_LR" "${RESUME[@]}"
fi
INIT_STEP=$(( (PT_STEPS * INIT_AT + 50) / 100 ))
INIT_STEP=$(( INIT_STEP < 1 ? 1 : INIT_STEP ))
INIT=$(printf "%s/step-%06d" "$PT" "$INIT_STEP")
[[ -d "$INIT" ]] || INIT=$(ls -d "$PT"/step-* | tail -n 1)
stamp "ENPAR initialisation: $INIT"

# 3. fine-tune the BERT baseline and ENPAR with the same seeds, 4. evaluate both on test
for seed in $SEEDS; do
    for model in bert enpar; do
        run="$OUT/$model-seed$seed"
        init=(--encoder "$ENCODER")  # ENPAR's encoder is the pre-trained checkpoint's
        [[ "$model" == "enpar" ]] && init=(--init "$INIT")
        if [[ ! -f "$run/summary.json" ]]; then
            resume=()
            [[ -d "$run/state" ]] && resume=(--resume)
            stamp "fine-tune $model seed $seed (preset $PRESET${FT_EPOCHS:+, $FT_EPOCHS epochs})"
            $ENPAR finetune --train "$TRAIN" --dev "$DEV" --out "$run" --preset "$PRESET" \
                "${epoch_args[@]}" --seed "$seed" "${init[@]}" "${resume[@]}"
        fi
        if [[ ! -f "$run/test/metrics.json" ]]; then
            stamp "evaluate $run/best on $TEST"
            $ENPAR evaluate "$run/best" "$TEST" --out "$run/test" --no-progress
        fi
    done
done

# 5. scores: each seed, BERT vs ENPAR with the paired significance test
for seed in $SEEDS; do
    stamp "seed $seed: BERT (A) vs ENPAR (B) on $TEST"
    $ENPAR score "$TEST" "$OUT/bert-seed$seed/test/predictions.jsonl" \
        --vs "$OUT/enpar-seed$seed/test/predictions.jsonl" --names BERT ENPAR \
        --json "$OUT/compare-seed$seed.json" | tee "$OUT/compare-seed$seed.txt"
done
stamp "done: checkpoints and reports under $OUT (loss curves: $PT/loss_curves.png)"

# 6. the app, on this demo's checkpoints only
if [[ "$APP" == "1" ]]; then
    stamp "Streamlit on http://localhost:$PORT (Ctrl-C to stop)"
    ENPAR_RUNS="$OUT" exec "$(dirname "$PY")/streamlit" run streamlit_app.py --server.port "$PORT" --server.headless true
fi
