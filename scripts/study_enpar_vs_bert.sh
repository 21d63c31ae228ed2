#!/usr/bin/env bash
# The pre-registered ENPAR-vs-BERT study (docs/experiments.md): fine-tuning arms, seeds, results, report.
#
#   ENPAR_DIR=runs/pretrain-enpar MLM_DIR=runs/pretrain-mlm scripts/study_enpar_vs_bert.sh select
#       # first: every checkpoint of both arms at 10%, seed 7001, dev only -> results/study-select/choice.json
#   ENPAR_INIT=runs/pretrain-enpar/step-000360 MLM_INIT=runs/pretrain-mlm/step-000360 \
#       scripts/study_enpar_vs_bert.sh lowres   # 10% of train: BERT / MLM-adapted / ENPAR x seeds 7001-7010
#   ENPAR_INIT=... scripts/study_enpar_vs_bert.sh full      # all of train: ENPAR x seeds 5228-5232 against the
#                                                           # committed scierc-cpu BERT runs of the same seeds
#   scripts/study_enpar_vs_bert.sh report                   # paired intervals + Figure 7-9 breakdowns
#   ARMS="bert" scripts/study_enpar_vs_bert.sh lowres       # one arm (e.g. before pre-training ends)
#
# Every arm uses the same fine-tuning preset (PRESET, default scierc-cpu) and the same seeds; the arms
# differ only in the initial weights: bert = the encoder as released, mlm = `enpar pretrain --objectives
# mlm` on the same abstracts and budget as ENPAR, enpar = the ENPAR checkpoint (which pre-training step is
# chosen on dev only; see docs/experiments.md). The low-resource train set is splits/scierc-train-10pct.txt
# (35 of 350 documents) written by scripts/subset_docs.py; dev and test are unchanged.
#
# Runs go in two lanes side by side, one torch thread each (ENPAR_THREADS=1), jobs dealt alternately.
# Resumable: a finished run is kept, an interrupted one resumes, so re-run the same command after a stop.
# Output: runs/study-SETTING-ARM-seedS/ (weights, not committed) and results/study-SETTING/ARM/seedS/
# (config, log, dev metrics, summary, test_metrics.json, predictions.jsonl), as finetune_scierc.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
ENPAR="$PY -m enpar.cli"
DATA=${ENPAR_DATA:-../shared/data}/scierc
PRESET=${PRESET:-scierc-cpu}
ENCODER=${ENCODER:-minilm}
LANES=${LANES:-2}
EXTRA=${EXTRA:-}  # extra `enpar finetune` flags: only for smoke tests (the registered study uses none)
SETTING=${1:?usage: study_enpar_vs_bert.sh select|lowres|full|report}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false ENPAR_THREADS=1

if [[ "$SETTING" == "report" ]]; then
    exec "$PY" scripts/study_report.py --lowres results/study-lowres --full results/study-full \
        --out results/study-report
fi
bert_from_committed() {  # results/study-full/bert/seedS from results/scierc-baseline-bs8-30ep-lr1e-4/seedS
    local src=results/scierc-baseline-bs8-30ep-lr1e-4 seed s d metrics preds
    for seed in $SEEDS; do
        s=$src/seed$seed d=results/study-full/bert/seed$seed
        [[ -f "$d/test_metrics.json" ]] && continue
        # with the document type vote, as the preset tests: seeds 5228-5231 kept it in *_docvote files
        metrics=$s/test_metrics.json preds=$s/predictions.jsonl
        if [[ -f "$s/predictions_docvote.jsonl" ]]; then
            metrics=$s/test_metrics_docvote.json preds=$s/predictions_docvote.jsonl
        fi
        mkdir -p "$d"
        cp "$s/config.json" "$s/log.txt" "$s/dev_metrics.jsonl" "$s/summary.json" "$d/"
        cp "$metrics" "$d/test_metrics.json"
        cp "$preds" "$d/predictions.jsonl"
    done
}

case "$SETTING" in
    select)  # the checkpoint choice (protocol): each pre-training checkpoint of each arm, 10%, dev only
        SEEDS=${SEEDS:-7001}
        TRAIN=runs/scierc-train-10pct.json
        [[ -f "$TRAIN" ]] || "$PY" scripts/subset_docs.py splits/scierc-train-10pct.txt --out "$TRAIN"
        ARMS=""
        for d in "${ENPAR_DIR:?set ENPAR_DIR to the ENPAR pre-training folder}"/step-*; do ARMS+=" enpar@${d##*/}"; done
        for d in "${MLM_DIR:?set MLM_DIR to the MLM pre-training folder}"/step-*; do ARMS+=" mlm@${d##*/}"; done ;;
    lowres)
        ARMS=${ARMS:-bert mlm enpar}
        SEEDS=${SEEDS:-$(seq 7001 7010)}
        TRAIN=runs/scierc-train-10pct.json
        [[ -f "$TRAIN" ]] || "$PY" scripts/subset_docs.py splits/scierc-train-10pct.txt --out "$TRAIN" ;;
    full)  # the registered BERT arm is the committed scierc-cpu baseline of these seeds: only ENPAR is trained
        ARMS=${ARMS:-enpar}
        SEEDS=${SEEDS:-$(seq 5228 5232)}
        TRAIN=$DATA/train.json
        bert_from_committed ;;
    *) echo "unknown setting $SETTING (select|lowres|full|report)" >&2; exit 2 ;;
esac

init_of() {  # the --init arguments of an arm
    case "$1" in
        bert) echo "--encoder $ENCODER" ;;
        mlm) echo "--init ${MLM_INIT:?set MLM_INIT to the MLM checkpoint}" ;;
        enpar) echo "--init ${ENPAR_INIT:?set ENPAR_INIT to the ENPAR checkpoint}" ;;
        enpar@*) echo "--init $ENPAR_DIR/${1#enpar@}" ;;
        mlm@*) echo "--init $MLM_DIR/${1#mlm@}" ;;
        *) echo "unknown arm $1" >&2; exit 2 ;;
    esac
}

one_run() {  # ARM SEED: fine-tune (or resume), evaluate on test, copy the results
    local arm=$1 seed=$2 run=runs/study-$SETTING-$1-seed$2 res=results/study-$SETTING/$1/seed$2
    if [[ -f "$run/summary.json" ]]; then
        :
    elif [[ -d "$run/state" ]]; then
        $ENPAR finetune --out "$run" --resume
    else
        # shellcheck disable=SC2046
        $ENPAR finetune --train "$TRAIN" --dev "$DATA/dev.json" --out "$run" --preset "$PRESET" \
            --seed "$seed" $(init_of "$arm") --no-progress $EXTRA
    fi
    mkdir -p "$res"
    cp "$run/config.json" "$run/log.txt" "$run/dev_metrics.jsonl" "$run/summary.json" "$res/"
    if [[ "$SETTING" == "select" ]]; then  # the choice is made on dev alone: no test run at all
        echo "== $SETTING $arm seed $seed done"
        return
    fi
    [[ -f "$run/test/metrics.json" ]] || $ENPAR evaluate "$run/best" "$DATA/test.json" --out "$run/test" \
        --no-progress >/dev/null
    cp "$run/test/metrics.json" "$res/test_metrics.json"
    cp "$run/test/predictions.jsonl" "$res/predictions.jsonl"
    echo "== $SETTING $arm seed $seed done"
}

jobs_list=()
for seed in $SEEDS; do for arm in $ARMS; do jobs_list+=("$arm $seed"); done; done
for arm in $ARMS; do init_of "$arm" >/dev/null; done  # fail now, not hours later, on a missing INIT
mkdir -p runs
for ((lane = 0; lane < LANES; lane++)); do
    (
        for ((j = lane; j < ${#jobs_list[@]}; j += LANES)); do
            # shellcheck disable=SC2086
            one_run ${jobs_list[$j]}
        done
    ) > "runs/study-$SETTING-lane$lane.log" 2>&1 &
done
wait
if [[ "$SETTING" == "select" ]]; then  # per arm, the step with the best dev score (ties: the later step)
    "$PY" - results/study-select <<'PY'
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
scores = {}
for summary in sorted(root.glob("*@*/seed*/summary.json")):
    arm, step = summary.parent.parent.name.split("@")
    scores.setdefault(arm, {}).setdefault(step, []).append(json.loads(summary.read_text())["best_dev_score"])
choice = {}
for arm, steps in scores.items():
    mean = {step: sum(v) / len(v) for step, v in steps.items()}
    choice[arm] = {"step": max(sorted(mean), key=lambda s: (mean[s], s)), "dev_score": mean}
(root / "choice.json").write_text(json.dumps(choice, indent=2) + "\n")
for arm, c in choice.items():
    print(f"{arm}: {c['step']} (dev score {c['dev_score'][c['step']]:.4f}); all: {c['dev_score']}")
PY
fi
echo "all $SETTING runs done; results in results/study-$SETTING/ (scripts/study_enpar_vs_bert.sh report)"
