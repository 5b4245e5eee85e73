# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3

.PHONY: install install-demo demo test lint bench docs

# everything: the test tools, the docs build, and every optional extra
install:
	$(PYTHON) -m pip install -e ".[dev]"

# only what the demo needs: the package and the offline retrieval extra
install-demo:
	$(PYTHON) -m pip install -e ".[retrieval]"

demo: install-demo
	$(PYTHON) -m bottlekit demo

test: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest
	$(PYTHON) -m pytest -m slow

# The documentation site, built with warnings as errors into docs/_build/html (offline).
docs:
	$(PYTHON) -m pip install -e ".[docs]"
	$(PYTHON) -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

bench:
	$(PYTHON) benchmarks/embed_throughput.py
