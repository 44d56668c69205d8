# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast notebooks bench install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
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

clean:
	rm -rf runs .pytest_cache
