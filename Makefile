# Quick start: `make demo` (the main job on the embedded local stack) and `make test` (the whole suite).
# Both create .venv with a Python >= 3.12 on first use and install the pinned project into it.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test test-fast lint bench venv clean schema tool-venvs

# Virtualenvs of their own for tools and clients whose pins clash with the product's (each cached by a stamp like
# .venv's, rebuilt when its pinned list changes): checkov (boto3 1.35), and the Nova Sonic clients nobody here
# wrote, which need aws-sdk-bedrock-runtime 0.9 (pipecat pins < 0.10; AWS's console sample uses 0.9's names).
TOOL_VENVS := checkov pipecat nova-sample
TOOL_STAMPS := $(foreach t,$(TOOL_VENVS),.venv-tools/$(t)/.installed)

# Find an interpreter >= 3.12: PATH first, then pyenv's versions (aws-sdk-bedrock-runtime needs 3.12).
PYTHON_FOUND := $(shell for c in python3.13 python3.12 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; \
	  then command -v $$c; break; fi; done)

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON_FOUND)" ]; then \
	  echo "error: no Python >= 3.12 found (tried python3.13, python3.12, python3, pyenv versions)." >&2; \
	  echo "fix: install one, e.g. 'pyenv install 3.12' or 'apt-get install python3.12', then rerun make." >&2; \
	  exit 1; fi
	@echo "creating $(VENV) with $(PYTHON_FOUND)"
	@$(PYTHON_FOUND) -m venv $(VENV)
	@echo "installing pinned dependencies (log: $(VENV)/install.log)"
	@$(PY) -m pip install -q --upgrade pip > $(VENV)/install.log 2>&1 || true
	@$(PY) -m pip install -q -c constraints.txt -e '.[dev,infra,local]' >> $(VENV)/install.log 2>&1 \
	  || { tail -30 $(VENV)/install.log >&2; echo "error: pip install failed (full log: $(VENV)/install.log)" >&2; exit 1; }
	@$(PY) -c 'import cli.app, aws_cdk, hypothesis' || { echo "error: install incomplete; see $(VENV)/install.log" >&2; exit 1; }
	@touch $(STAMP)

venv: $(STAMP)

.venv-tools/%/.installed: tests/venvs/%.txt
	@if [ -z "$(PYTHON_FOUND)" ]; then echo "error: no Python >= 3.12 found" >&2; exit 1; fi
	@echo "creating .venv-tools/$* (log: .venv-tools/$*.log)"
	@rm -rf .venv-tools/$* && mkdir -p .venv-tools && $(PYTHON_FOUND) -m venv .venv-tools/$*
	@.venv-tools/$*/bin/python -m pip install -q -r $< > .venv-tools/$*.log 2>&1 \
	  || { tail -20 .venv-tools/$*.log >&2; echo "error: installing .venv-tools/$* failed" >&2; exit 1; }
	@touch $@

tool-venvs: $(TOOL_STAMPS)

demo: $(STAMP)
	$(VENV)/bin/voicectl demo

# Two workers (pytest-xdist): much of the suite waits on moto, sockets and subprocesses. The CDK tests share one
# synthesis, so they stay on one worker (tests/conftest.py groups them). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadgroup)

test: $(STAMP) $(TOOL_STAMPS)
	@bash scripts/install-chromium.sh || echo "warning: no chromium; the browser test will be skipped" >&2
	VOICE_REQUIRE_TOOLS=1 $(PY) -m pytest $(XDIST)

# The pure and functional tiers (STYLE.md #12): the registry, control plane, runtime, emulators and embedded
# packages' own tests, without the tests marked slow; the CLI flows, the end-to-end tests, the clients nobody here
# wrote and the CDK app are left to `make test`.
FAST_TIERS := tests/registry tests/control_plane tests/voice_runtime tests/emulators tests/embedded tests/test_layout.py

test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow" $(FAST_TIERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy registry control_plane cli voice_runtime infra emulators embedded

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

schema: $(STAMP)
	$(VENV)/bin/voicectl schema > schema/voice-registry.schema.json
	$(VENV)/bin/voicectl schema --compiled > schema/compiled-registry.schema.json

clean:
	rm -rf $(VENV) .venv-tools build *.egg-info .pytest_cache .mypy_cache .ruff_cache
