#!/usr/bin/env bash
# The joint-model baseline ("BERT" row of the paper, here with the embedded MiniLM) on SciERC, 3 seeds,
# then test scores as mean and standard deviation.
#
#   scripts/finetune_scierc.sh                        # 3 seeds x 30 epochs, then evaluate on test
#   EPOCHS=15 SEEDS="5216" scripts/finetune_scierc.sh # shorter / one seed
#   INIT=runs/enpar-pretrain/step-000100 NAME=enpar scripts/finetune_scierc.sh            # ENPAR
#   INIT=... INIT_MODE=sentence NAME=enpar-nocnn scripts/finetune_scierc.sh               # "- CNN" ablation
#   EXTRA="--set warmup=0.1" NAME=warmup01 SEEDS=5216 scripts/finetune_scierc.sh      # dev tuning
#   PRESET=paper NAME=paper scripts/finetune_scierc.sh   # the paper's budget (~4 h per seed here)
#   DOCUMENT_TYPE_VOTE=0 ...      # test without the document type vote (the preset has it on)
#
# The setting is the preset scierc-cpu (enpar/presets.py): 30 epochs of batch 8 at lr 1e-4, chosen on dev,
# and the document type vote at prediction time (best/decoding.json). Everything else is the paper's
# (enpar/config.py): layer decay 0.9, AdamW eps 1e-6,
# wd 0.01 (not on biases / LayerNorm), clip 1.0, warmup 20% then linear decay, scheduled sampling
# (k 3, gold for the first 6 epochs), dev evaluation from epoch 5, selection by entity F1 + exact relation F1.
# The paper's 200-epoch budget is ~4 h per seed on this 2-core CPU; the warmup/decay schedule spans the
# epochs actually planned. Cost with MiniLM: ~75-90 s per epoch with two runs sharing the 2 cores (one
# thread each), so ~40 min per seed at 30 epochs (~24 min at 15).
# A run interrupted for any reason continues where it stopped: re-run the same command (it resumes).
#
# Output: runs/scierc-$NAME-seedS/ (weights, not committed) and results/scierc-$NAME/ (committed): per seed
# config.json, log.txt, dev_metrics.jsonl, summary.json, test_metrics.json and the test predictions.jsonl
# (for paired tests: scripts/compare_scierc.sh); summary.json with the mean
# and standard deviation of test Entity / Relation / Relation (exactly) micro F1 over the seeds
# (summary_seeds5234-5235.json and the like where SEEDS is not the default three).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
ENPAR="$PY -m enpar.cli"
DATA=${ENPAR_DATA:-../shared/data}/scierc
NAME=${NAME:-baseline}
PRESET=${PRESET:-scierc-cpu}
EPOCHS=${EPOCHS:-}
DEFAULT_SEEDS="5216 5217 5218"
SEEDS=${SEEDS:-$DEFAULT_SEEDS}
ENCODER=${ENCODER:-minilm}
INIT=${INIT:-}
INIT_MODE=${INIT_MODE:-full}
EXTRA=${EXTRA:-}
DOCUMENT_TYPE_VOTE=${DOCUMENT_TYPE_VOTE:-}
RESULTS=results/scierc-$NAME

# with INIT the encoder is the pre-trained checkpoint's (enpar finetune refuses another one)
init_args=(--encoder "$ENCODER")
if [[ -n "$INIT" ]]; then
    init_args=(--init "$INIT" --init-mode "$INIT_MODE")
fi
epoch_args=()
if [[ -n "$EPOCHS" ]]; then epoch_args=(--epochs "$EPOCHS"); fi
# the vote as best/decoding.json says (the preset's), unless DOCUMENT_TYPE_VOTE=0/1 overrides it
vote_args=()
if [[ -n "$DOCUMENT_TYPE_VOTE" ]]; then vote_args=(--document-type-vote "$DOCUMENT_TYPE_VOTE"); fi

for seed in $SEEDS; do
    run=runs/scierc-$NAME-seed$seed
    if [[ -f "$run/summary.json" ]]; then
        echo "== $run: already trained"
    elif [[ -d "$run/state" ]]; then
        echo "== $run: resuming"
        $ENPAR finetune --out "$run" --resume
    else
        echo "== $run: training (preset $PRESET${EPOCHS:+, $EPOCHS epochs}, seed $seed)"
        # shellcheck disable=SC2086
        $ENPAR finetune --train "$DATA/train.json" --dev "$DATA/dev.json" --out "$run" --preset "$PRESET" \
            "${epoch_args[@]}" --seed "$seed" "${init_args[@]}" $EXTRA
    fi
done

for seed in $SEEDS; do
    run=runs/scierc-$NAME-seed$seed
    if [[ ! -f "$run/test/metrics.json" ]]; then
        $ENPAR evaluate "$run/best" "$DATA/test.json" --out "$run/test" "${vote_args[@]}" >/dev/null
    fi
    mkdir -p "$RESULTS/seed$seed"
    cp "$run/config.json" "$run/log.txt" "$run/dev_metrics.jsonl" "$run/summary.json" "$RESULTS/seed$seed/"
    cp "$run/test/metrics.json" "$RESULTS/seed$seed/test_metrics.json"
    cp "$run/test/predictions.jsonl" "$RESULTS/seed$seed/predictions.jsonl"
    if [[ -f "$run/best/decoding.json" ]]; then cp "$run/best/decoding.json" "$RESULTS/seed$seed/"; fi
done

# The setting's summary.json is over the default seeds; a run over other seeds (often one seed per
# process) gets its own file, so it never replaces a summary over more seeds with one over fewer.
summary=summary.json
if [[ "$SEEDS" != "$DEFAULT_SEEDS" ]]; then summary="summary_seeds${SEEDS// /-}.json"; fi
# shellcheck disable=SC2086
"$PY" scripts/summarize_seeds.py "$RESULTS" $SEEDS --out "$summary"
