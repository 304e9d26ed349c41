# hpclab — two commands do all set-up: `make lab` and `make test`.
# Both create or refresh the virtual environment in .venv only when pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8888
NB     ?= $(sort $(wildcard notebooks/*.ipynb))
NB_WORKERS ?= 2
# TensorFlow picks its CPU kernels per machine (oneDNN on CPUs with AVX512-VNNI/BF16/AMX, Eigen
# elsewhere): `make test` runs every notebook under both, so a pass here is a pass on any x86 CPU.
# `make test ONEDNN=default` runs them once, on this machine's own choice.
ONEDNN ?= 0 1
# Jupyter refuses to run as root unless told; these machines run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test execute bench doctor lint clean help

help:
	@echo "make lab      launch JupyterLab on notebooks/ (http://$(HOST):$(PORT))"
	@echo "make test     unit tests + every notebook under nbval"
	@echo "make execute  re-run notebooks in place (NB=notebooks/00_....ipynb for one)"
	@echo "make bench    time every notebook; writes notebooks/TIMINGS.md"
	@echo "make doctor   what this machine offers the kit"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	  sys.exit(0 if (3, 10) <= v <= (3, 12) else "hpclab needs Python 3.10-3.12; got %d.%d: run make PYTHON=python3.11 ..." % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=$(HOST) --ServerApp.port=$(PORT) \
	  --no-browser $(ROOT_FLAG)

# Unit tests first (some time process clean-up), then the notebooks two at a time: most of a
# notebook's time is single-threaded (TF import, tracing), so 2 workers fit 2 cores.
test: $(STAMP)
	$(BIN)/python -m pytest tests
	@set -e; for v in $(ONEDNN); do \
	  if [ "$$v" = default ]; then echo "== notebooks, this machine's default CPU kernels"; \
	    env -u TF_ENABLE_ONEDNN_OPTS $(BIN)/python -m pytest notebooks -n $(NB_WORKERS) --dist loadfile; \
	  else echo "== notebooks with TF_ENABLE_ONEDNN_OPTS=$$v"; \
	    TF_ENABLE_ONEDNN_OPTS=$$v $(BIN)/python -m pytest notebooks -n $(NB_WORKERS) --dist loadfile; fi; \
	done

execute: $(STAMP)
	$(BIN)/hpclab execute $(NB)

bench: $(STAMP)
	$(BIN)/hpclab execute --bench notebooks/TIMINGS.md $(NB)

doctor: $(STAMP)
	$(BIN)/hpclab doctor

lint: $(STAMP)
	$(BIN)/ruff check hpclab tests
	$(BIN)/python -m tensorflow_docs.tools.nbfmt --test notebooks

clean:
	rm -rf $(VENV) build *.egg-info
