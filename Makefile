# Two commands matter: `make reproduce` (the main job) and `make test` (the whole suite).
# Both bootstrap .venv from scratch; torch is installed first and pinned (a CPU build on CPU-only machines).
PYTHON ?= python3
TORCH ?= torch==2.13.0
PROFILE ?= quick
JOBS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv reproduce study test test-fast lab notebooks bench models clean-venv

# `make help`: every target with the text after its `##`.
help:  ## this list
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# `make test-fast`: the checks that need no training and no notebook (configs, plans and their pinned run names,
# metrics, bicubic, verdict statistics, docs, the committed store's records), for the edit-test loop.
FAST_TESTS ?= tests/test_config.py tests/test_plans.py tests/test_metrics.py tests/test_data_imresize.py \
	tests/test_verdicts.py tests/test_docs.py tests/test_showcase.py tests/test_registries.py tests/test_readme.py
test-fast: $(STAMP)  ## the fast subset (under a minute): no training, no notebooks
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -q -n 2 $(FAST_TESTS)

venv: $(STAMP)  ## create .venv (pinned CPU torch first, then the project with its notebook and dev extras)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[notebooks,dev]"
	touch $(STAMP)

# `make reproduce`: the quick profile (trains what its committed store lacks: nothing on a fresh clone), then the
# CPU study's figures, tables, verdicts and report from the committed store (--store-only: minutes, no training),
# for the second edition (cpu) and the first (cpu_v1).
# `make study`: train the whole CPU study into the store (hours; resumes where a killed run stopped).
reproduce: $(STAMP)  ## the main job: quick profile, then the CPU study's figures, tables, verdicts from the store
	$(BIN)/wdsr reproduce --profile $(PROFILE) --jobs $(JOBS)
	test "$(PROFILE)" = cpu || $(BIN)/wdsr reproduce --profile cpu --store-only
	test "$(PROFILE)" = cpu_v1 || $(BIN)/wdsr reproduce --profile cpu_v1 --store-only

study: $(STAMP)  ## train the whole CPU study into the store (hours; resumes where a killed run stopped)
	$(BIN)/wdsr reproduce --profile cpu --jobs $(JOBS)

test: $(STAMP)  ## the whole suite: ruff, pytest, nbval (under 30 minutes on 2 cores)
	$(BIN)/python -m ruff check .  # lint first (pyproject.toml [tool.ruff]: pycodestyle and pyflakes)
	$(BIN)/python -m pytest -q -n 2 -rs --durations=15 tests  # -rs: each skipped test with its reason
	# nbval: the executed store-only notebooks of the finished profiles (tests/data/nbval/<profile>/, written by
	# tools/nbval_reference.py) run again against a copy of the committed store; every text output (tables,
	# verdicts, printed numbers) must equal the reference, up to tests/data/nbval/sanitize.cfg (paths, addresses).
	# The smoke execution of every notebook is tests/test_notebooks.py's.
	scratch=$$(mktemp -d) && cp -r results $$scratch/results && WDSR_STORE_ONLY=1 \
		WDSR_RESULTS_DIR=$$scratch/results WDSR_FIGURES_DIR=$$scratch/figures \
		$(BIN)/python -m pytest -q --nbval --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider \
		--nbval-sanitize-with tests/data/nbval/sanitize.cfg tests/data/nbval/*/*.ipynb

# JupyterLab on notebooks/ (jupytext pairs) with this venv's kernel: the `python3` spec is rewritten to .venv's
# python and JUPYTER_PATH puts it before any user-level spec of that name; --allow-root only when run as root.
# Relative paths in the notebooks resolve against the project root (wdsr_lib/study/notebook_env.py).
# The lab extra brings ipywidgets and its widget manager (the explorer's pickers); the news / update-check pop-up
# (plugin @jupyterlab/apputils-extension:announcements) is disabled in .venv's page_config.json: this lab only.
LAB_ARGS ?=
lab: $(STAMP)  ## JupyterLab on notebooks/ with this venv's kernel and the explorer's widgets
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (wdsr-study)" >/dev/null
	$(BIN)/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null
	JUPYTER_PATH=$(abspath $(VENV))/share/jupyter $(BIN)/jupyter lab $$(test "$$(id -u)" = 0 && echo --allow-root) \
		$(LAB_ARGS) notebooks

# What a user meets in JupyterLab, in headless Chromium (tools/browser_check.py): a lab started as `make lab` starts
# it, on a scratch smoke-profile store; 01..05 show their figures, 06_explore's pickers change the curve, the
# pictures cell shows pictures or says why. Needs Debian's chromium and chromium-driver (apt-get install -y chromium
# chromium-driver); nothing is fetched at run time. Prints PASS/FAIL per check; screenshots in results/browser_check/.
.PHONY: browser-check
browser-check: $(STAMP)  ## drive the lab in headless Chromium: figures, pickers, pictures (PASS/FAIL per check)
	$(BIN)/python -m pip install --quiet -e ".[lab,browser]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (wdsr-study)" >/dev/null
	$(BIN)/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null
	$(BIN)/python tools/browser_check.py

# The notebooks are jupytext pairs: edit notebooks/NN_name.py, then re-sync (and strip) the .ipynb papermill runs.
notebooks: $(STAMP)  ## re-sync the jupytext pairs after editing notebooks/NN_name.py
	$(BIN)/python tools/notebook_pairs.py

bench: $(STAMP)  ## the benchmarks (speed ratios measured side by side) into results/bench/
	$(BIN)/python benchmarks/run_all.py

# The GPU acceptance check (tools/gpu_check.py): paper-profile steps fp32/TF32, eager/compiled, channels_last,
# GFLOP/s against the measured matmul peak, torchrun + NCCL, SyncBatchNorm, CUDA nondeterminism, a smoke
# reproduce on CUDA. Writes results/bench/gpu.json and gpu.md. GPU_CHECK_ARGS=--dry-run: CPU, tiny shapes.
GPU_CHECK_ARGS ?=
.PHONY: gpu-check
gpu-check: $(STAMP)  ## the GPU acceptance check (GPU_CHECK_ARGS=--dry-run: CPU, tiny shapes)
	$(BIN)/python tools/gpu_check.py $(GPU_CHECK_ARGS)

models: $(STAMP)  ## list the models with their parameters and published counts
	$(BIN)/wdsr models

# Retrain the RUNS cheapest stored runs of VERIFY_PROFILE (default: the 2 cheapest quick runs, about a minute)
# into a scratch store and check them (wdsr_lib/study/verify.py): bitwise on a machine with the recording fingerprint,
# statistically (inside the 99% band of their arm's other seeds) elsewhere; the output names the level.
RUNS ?= 2
VERIFY_PROFILE ?= quick
.PHONY: verify
verify: $(STAMP)  ## retrain the RUNS cheapest stored runs and check them (bitwise or statistical)
	$(BIN)/wdsr verify --runs $(RUNS) --profile $(VERIFY_PROFILE)

clean-venv:  ## remove .venv
	rm -rf $(VENV)
