# Two commands do all set-up on a fresh machine (they create .venv on first use):
#   make main   train the lecture's two-layer CNN on MNIST (>= 99.2% test accuracy)
#   make test   unit tests + every notebook and solution under nbval, in fast mode
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: main test install exercises clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

main: $(BIN)/.installed
	$(BIN)/python -m course train mnist_two_layer_cnn --out runs/mnist_two_layer_cnn

test: $(BIN)/.installed
	COURSE_FAST=1 $(BIN)/python -m pytest -n auto --dist loadfile --nbval-lax tests notebooks solutions

exercises: $(BIN)/.installed
	$(BIN)/python -m course exercises --write

clean:
	rm -rf runs .pytest_cache
