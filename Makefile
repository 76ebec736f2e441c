# Two entry points that work on a fresh machine: both run scripts/setup.sh first.
PYTHON ?= python3

.PHONY: setup demo test benchmark

setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

demo: setup
	$(PYTHON) -m qonnx_c4ml.cli demo

test: setup
	$(PYTHON) -m pytest -n auto

benchmark: setup
	$(PYTHON) benchmarks/jets_flow.py
