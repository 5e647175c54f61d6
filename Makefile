# Two commands do all set-up on a fresh machine (they create .venv on first use):
#   make main   train the lecture's two-layer CNN on MNIST (>= 99.2% test accuracy)
#   make test   unit tests + every notebook and solution under nbval, in fast mode
#   make site   the course site (lessons executed in full mode, exercises, API) in docs/_build;
#               COURSE_FAST=1 make site for a quick build (lessons in fast mode)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: main test install exercises site site-test clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

$(BIN)/.installed-site: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev,site]"
	@touch $@

install: $(BIN)/.installed

main: $(BIN)/.installed
	$(BIN)/python -m course train mnist_two_layer_cnn --out runs/mnist_two_layer_cnn

test: $(BIN)/.installed
	COURSE_FAST=1 $(BIN)/python -m pytest -n auto --dist loadfile --nbval-lax tests notebooks solutions

# One folder (and one jupyter cache) per mode: a fast build never serves a full-mode page.
SITE_MODE = $(if $(filter 1 true yes on,$(COURSE_FAST)),fast,full)
SITE_DIR = docs/_build/$(SITE_MODE)/html

site: $(BIN)/.installed-site
	$(BIN)/python -m sphinx -b html -c docs . $(SITE_DIR)
	@echo "site ($(SITE_MODE) mode): $(SITE_DIR)/index.html"

# the browser test of the site (builds it in fast mode; needs chromium and chromium-driver)
site-test: $(BIN)/.installed-site
	COURSE_SITE_TESTS=1 $(BIN)/python -m pytest -p no:cacheprovider tests/test_site.py

exercises: $(BIN)/.installed
	$(BIN)/python -m course exercises --write

clean:
	rm -rf runs .pytest_cache docs/_build docs/_autosummary
