# PoseSOR for OpenMMLab: every entry point sets up .venv first (idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.posesor-installed
LINT_PATHS := posesor tools tests configs projects setup.py

.PHONY: install demo web test lint format clean

$(STAMP): tools/setup_env.sh requirements/constraints.txt setup.py requirements/*.txt
	bash tools/setup_env.sh
	touch $(STAMP)

## install: create .venv and install the verified stack (idempotent)
install:
	bash tools/setup_env.sh
	touch $(STAMP)

## demo: set up, then run the main job on the embedded default (no downloads)
demo: $(STAMP)
	$(PY) tools/demo.py

## web: set up, then serve the checkpoint `make demo` trained on a local page
WEB_CONFIG ?= configs/posesor_tiny_synthetic.py
WEB_CHECKPOINT ?= work_dirs/demo
WEB_ARGS ?= --device cpu --host 127.0.0.1 --port 7860
web: $(STAMP)
	$(PY) tools/web_demo.py $(WEB_CONFIG) $(WEB_CHECKPOINT) $(WEB_ARGS)

## test: set up, then run the whole test suite
test: $(STAMP)
	$(PY) -m pytest tests

## lint: isort, yapf, flake8 and codespell, as OpenMMLab projects do
lint: $(STAMP)
	$(PY) -m isort --check-only --diff $(LINT_PATHS)
	$(PY) -m yapf --diff --recursive $(LINT_PATHS)
	$(PY) -m flake8 $(LINT_PATHS)
	$(VENV)/bin/codespell posesor tools tests configs projects README.md

format: $(STAMP)
	$(PY) -m isort $(LINT_PATHS)
	$(PY) -m yapf --in-place --recursive $(LINT_PATHS)

clean:
	rm -rf $(VENV) build dist *.egg-info posesor/.mim
