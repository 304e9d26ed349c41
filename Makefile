# hpclab — two commands do all set-up: `make lab` and `make test`.
# Both create or refresh the virtual environment in .venv when it is missing, when
# pyproject.toml changed, or when you ask for another Python (`make test PYTHON=python3.12`).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP_VERSION := 26.3
HOST   ?= 127.0.0.1
PORT   ?= 8888
NB     ?= $(sort $(wildcard notebooks/*.ipynb))
WORKERS ?= 2
# TensorFlow picks its CPU kernels per machine (oneDNN on CPUs with AVX512-VNNI/BF16/AMX, Eigen
# elsewhere): `make test` runs every notebook under both, so a pass here is a pass on any x86 CPU.
# `make test ONEDNN=default` runs them once, with this machine's own choice.
ONEDNN ?= 0 1
# Jupyter refuses to run as root unless told; these machines run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The interpreter a .venv was built with is recorded in its stamp. Asking for another one
# (PYTHON=... on the command line or in the environment) rebuilds .venv with it.
PY_ID = $(shell $(PYTHON) -c 'import os, sys; print(sys.version.split()[0], os.path.realpath(sys.executable))' 2>/dev/null)
ifneq ($(origin PYTHON),file)
ifneq ($(wildcard $(STAMP)),)
ifneq ($(PY_ID),$(shell cat $(STAMP)))
REBUILD := rebuild-venv
endif
endif
endif

.PHONY: lab test execute bench doctor lint student clean help rebuild-venv

help:
	@echo "make lab      launch JupyterLab on notebooks/ (http://$(HOST):$(PORT))"
	@echo "make test     unit tests + every notebook under nbval, on both CPU kernel paths"
	@echo "make execute  re-run notebooks in place (NB=notebooks/00_....ipynb for one)"
	@echo "make bench    time every notebook; writes notebooks/TIMINGS.md"
	@echo "make doctor   what this machine offers the kit"
	@echo "make lint     ruff + nbfmt --test"
	@echo "make student  student notebooks (nbgrader: solutions stripped) in release/, and a zip"
	@echo "options: PYTHON=python3.12 (rebuilds .venv), PORT=8890, ONEDNN=default, WORKERS=1"

rebuild-venv:
	@echo "== .venv was built with $$(cat $(STAMP)); rebuilding it with $(PYTHON)"
	rm -rf $(VENV)

$(STAMP): pyproject.toml $(REBUILD)
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	  sys.exit(0 if (3, 10) <= v <= (3, 13) else "hpclab needs Python 3.10-3.13; got %d.%d: run make PYTHON=python3.11 ..." % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo \
	  "could not create a virtual environment: on Debian/Ubuntu run 'apt install python3-venv' first"; exit 1; }
	$(BIN)/python -m pip install --quiet --progress-bar off pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[test,lab,class,dev]'
	$(BIN)/python -m pip check
	@# JupyterLab settings for the kit: no "get notified about Jupyter news?" pop-up
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp .jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@echo "$(PY_ID)" > $(STAMP)

# port_retries=0: if the port is taken, fail instead of moving to another port that an SSH
# tunnel to $(PORT) would not reach (on a shared node it could reach someone else's server).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=$(HOST) --ServerApp.port=$(PORT) \
	  --ServerApp.port_retries=0 --no-browser $(ROOT_FLAG) || { echo \
	  "JupyterLab did not start. If port $(PORT) is in use, choose another: make lab PORT=8890"; exit 1; }

# Unit tests first: WORKERS at a time, except those marked `serial` (they time something or
# wait for processes to die, and failed beside another test), which run alone afterwards.
# Then the notebooks, WORKERS at a time: most of a notebook's time is single-threaded (TF
# import, tracing), so 2 workers fit 2 cores.
test: $(STAMP)
	$(BIN)/python -m pytest tests -m "not serial" -n $(WORKERS)
	$(BIN)/python -m pytest tests -m serial
	@set -e; for v in $(ONEDNN); do \
	  if [ "$$v" = default ]; then echo "== notebooks, this machine's default CPU kernels"; \
	    env -u TF_ENABLE_ONEDNN_OPTS $(BIN)/python -m pytest notebooks -n $(WORKERS) --dist loadfile --no-loadscope-reorder; \
	  else echo "== notebooks with TF_ENABLE_ONEDNN_OPTS=$$v"; \
	    TF_ENABLE_ONEDNN_OPTS=$$v $(BIN)/python -m pytest notebooks -n $(WORKERS) --dist loadfile --no-loadscope-reorder; fi; \
	done

execute: $(STAMP)
	$(BIN)/hpclab execute $(NB)

bench: $(STAMP)
	$(BIN)/hpclab execute --bench notebooks/TIMINGS.md $(NB)

doctor: $(STAMP)
	$(BIN)/hpclab doctor

lint: $(STAMP)
	$(BIN)/ruff check hpclab tests conftest.py
	$(BIN)/python -m tensorflow_docs.tools.nbfmt --test notebooks

# nbgrader's own generate_assignment strips solutions and hidden tests and clears outputs.
student: $(STAMP)
	$(BIN)/hpclab student --out release $(NB)

clean:
	rm -rf $(VENV) build *.egg-info release
