# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3

.PHONY: install demo test lint bench docs

install:
	$(PYTHON) -m pip install -e ".[dev]"

demo: install
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
