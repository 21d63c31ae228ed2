# The fine-tuning budget for this 2-core CPU, chosen on SciERC dev (README "Tuning on dev"); sourced by
# finetune_scierc.sh and demo.sh so both fine-tune the same way, and shown by the app. Everything not set
# here is the paper's (enpar/config.py). The paper's own budget (200 epochs of batch 32, lr 2.5e-5) is
# FT_EPOCHS=200 FT_ARGS=" ". The ENPAR-vs-baseline comparison in the README ran at FT_EPOCHS=15.
FT_EPOCHS=${FT_EPOCHS:-30}
FT_ARGS=${FT_ARGS:-"--batch-size 8 --lr 1e-4"}
# 1: after training, choose the entity decision threshold on dev (scripts/tune_threshold.py) before testing.
FT_TUNE_ENTITY_BIAS=${FT_TUNE_ENTITY_BIAS:-0}
# 1: after training, choose the tag decoder (lenient chunking or viterbi) on dev the same way.
FT_TUNE_TAG_DECODER=${FT_TUNE_TAG_DECODER:-0}
# 1: after training, switch on the document type vote (one type per mention string and document, a
# prediction-only setting) in each best/ checkpoint before testing; adopted on SciERC dev (README "Tuning on dev").
FT_DOCUMENT_TYPE_VOTE=${FT_DOCUMENT_TYPE_VOTE:-1}
