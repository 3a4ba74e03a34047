# Two commands matter: `make run` (train, register, promote, serve) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA ?= $(firstword $(wildcard ../shared/data/amazon_in_products.csv) synthetic)
MODEL_NAME ?= product-classifier
PORT ?= 5000
# Your file's column names, e.g. COLUMNS=product_name=title,cat=category (empty: canonical names)
COLUMNS ?=
export PATH := $(abspath $(BIN)):$(PATH)
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup run train serve test test-fast lint bench bench-serve bench-spark dockerfile clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[spark,dev]'
	touch $@

setup: $(BIN)/.installed

train: setup
	$(BIN)/python -m training.train --data $(DATA) --registered-model-name $(MODEL_NAME) $(if $(COLUMNS),--columns '$(COLUMNS)')

run: train
	$(BIN)/python -m registry_scripts promote --latest --to production --registered-model-name $(MODEL_NAME)
	$(BIN)/mlflow models serve -m models:/$(MODEL_NAME)@champion --env-manager local --port $(PORT)

serve: setup
	$(BIN)/mlflow models serve -m models:/$(MODEL_NAME)@champion --env-manager local --port $(PORT)

test: setup
	$(BIN)/python -m pytest -m "" tests

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" tests

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

dockerfile: setup
	$(BIN)/python docker/generate_dockerfile.py --model-uri models:/$(MODEL_NAME)@champion --output docker/build

bench: setup
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/fallback_chain.py
	$(BIN)/python bench/drift_eval.py
	$(BIN)/python bench/serve_latency.py
	$(BIN)/python bench/spark_throughput.py

bench-serve: setup
	$(BIN)/python bench/serve_latency.py

bench-spark: setup
	$(BIN)/python bench/spark_throughput.py

clean:
	rm -rf $(VENV) mlruns mlartifacts mlflow.db
