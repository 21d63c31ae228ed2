#!/usr/bin/env bash
# Pre-training on this machine's CPU (2 cores) on the in-domain abstracts: ENPAR, the MLM control, or both
# side by side (one core each), on the same sentences with the same steps, batch and schedule.
#
#   ARM=both scripts/pretrain_cpu.sh            # the registered study (docs/experiments.md): shards 00-01, 360 steps
#   ARM=enpar STOP_AT=100 scripts/pretrain_cpu.sh   # time-box: stop after step 100 (re-run to continue)
#   SHARDS="00 01" WIKI=1 ARM=both scripts/pretrain_cpu.sh   # two shards, plus WikiText-2 valid + test
#
# Corpus: ../shared/data/ai_abstracts (221k AI/ML/CV/NLP abstracts in 8 random-sample shards, SciERC
# documents removed; see its PROVENANCE.md), one abstract per line, split into sentences by spaCy; only
# sentences with >= MIN_ENTITIES spaCy entities are kept (~9% of the sentences at 3: 1,259 of 13,993 in the
# first 2,000 abstracts of shard 00, so ~17k sentences per shard). Annotation runs ~4.5k words/s per
# process on this shared CPU, ~16 min per shard (4.4M words); shards are annotated two at a time.
#
# Encoder: the embedded all-MiniLM-L6-v2. Every micro-step holds the authors' 9 MEP + 9 MET + 9 PP + 5 ACD
# instances (MLM: 32 sentences); ACCUMULATE micro-steps per optimizer step. Each objective draws its
# sentences in a fresh shuffled order per pass, one instance per sentence per pass, so STEPS x ACCUMULATE x 9
# sentences are drawn per objective. Checkpoints at 25/50/75/100% of STEPS. Which checkpoint fine-tuning
# uses is chosen on dev only (docs/experiments.md).
#
# Afterwards: scripts/study_enpar_vs_bert.sh (ENPAR_INIT / MLM_INIT = the chosen step folders) and
# scripts/export_pretrained.py for the fp16 release folder.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
ENPAR="$PY -m enpar.cli"
DATA_ROOT=${ENPAR_DATA:-../shared/data}
ABSTRACTS=${ABSTRACTS:-$DATA_ROOT/ai_abstracts}
SHARDS=${SHARDS:-"00 01"}
WIKI=${WIKI:-0}
MIN_ENTITIES=${MIN_ENTITIES:-3}
CORPUS=${CORPUS:-runs/corpus-abstracts}
ARM=${ARM:-both}
OUT_PREFIX=${OUT_PREFIX:-runs/pretrain}
ENCODER=${ENCODER:-minilm}
STEPS=${STEPS:-360}
ACCUMULATE=${ACCUMULATE:-4}
LR=${LR:-1e-4}
SEED=${SEED:-20261206}
STOP_AT=${STOP_AT:-}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false ENPAR_THREADS=1

annotate() {  # IN OUT [args]: once; an interrupted run leaves only OUT.part behind, redone next time
    [[ -f "$2" ]] || $ENPAR annotate "$1" "$2" --min-entities "$MIN_ENTITIES" --no-progress "${@:3}" \
        > "$2.log" 2>&1
}

mkdir -p "$CORPUS"
pids=()
for s in $SHARDS; do
    annotate "$ABSTRACTS/abstracts-$s-of-08.txt.gz" "$CORPUS/abstracts-$s.jsonl" --input-format paragraphs &
    pids+=($!)
    if (( ${#pids[@]} == 2 )); then wait "${pids[@]}"; pids=(); fi
done
[[ ${#pids[@]} -eq 0 ]] || wait "${pids[@]}"
if [[ "$WIKI" == "1" ]]; then
    for f in wiki.valid.raw wiki.test.raw; do
        annotate "$DATA_ROOT/wikitext2_raw/$f" "$CORPUS/${f%.raw}.jsonl" --input-format wikitext
    done
else
    rm -f "$CORPUS"/wiki.*.jsonl
fi
grep -h "^kept\|^time" "$CORPUS"/*.log || true

pretrain() {  # ARM: enpar | mlm
    local out=$OUT_PREFIX-$1 objectives=mep,met,pp,acd
    [[ "$1" == "mlm" ]] && objectives=mlm
    local args=("$CORPUS" --out "$out" --no-progress)
    if [[ -d "$out/state" ]]; then
        args+=(--resume)  # the saved run's settings win
    else
        args+=(--encoder "$ENCODER" --objectives "$objectives" --steps "$STEPS" --accumulate "$ACCUMULATE"
               --lr "$LR" --seed "$SEED")
    fi
    [[ -n "$STOP_AT" ]] && args+=(--stop-at "$STOP_AT")
    $ENPAR pretrain "${args[@]}" > "$out.log" 2>&1
    echo "$1: $(ls -d "$out"/step-* | tr '\n' ' ') (log $out.log, summary $out/summary.json)"
}

case "$ARM" in
    enpar | mlm) pretrain "$ARM" ;;
    both) pretrain enpar & pretrain mlm & wait ;;
    *) echo "ARM must be enpar, mlm or both" >&2; exit 2 ;;
esac
