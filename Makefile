PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test test-cluster lint bench bench-scaleout bench-instructions fuzz soak clean install compat

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@command -v rclone >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq rclone >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq rclone >/dev/null 2>&1)) || \
	  echo "rclone not installed: its tests will be skipped"; }
	@sh tests/backends/provision.sh $(VENV)
	touch $@

install: $(STAMP)

## Run the whole cloud in the foreground (identity :5000, object store + S3 :8080).
serve: $(STAMP)
	$(BIN)/stackbox serve

## Install what the tests need, check style and types, and run every test.
test: lint
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q $(PYTEST_ARGS)

## The whole suite with every cloud two nodes on PostgreSQL + RADOS behind HAProxy (tests/topology.py).
test-cluster: lint
	PATH=$(abspath $(BIN)):$$PATH STACKBOX_TEST_TOPOLOGY=cluster $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

define INSTALL_WRK
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null)
endef

bench: $(TEST_STAMP)
	$(INSTALL_WRK)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/run.py $(BENCH_ARGS)

## stackbox on PostgreSQL + RADOS against Ceph's radosgw on the same throwaway one-node cluster
## (issue 12): 4 KiB PUT/GET/HEAD/DELETE and 64 MiB PUT/GET, medians and ratios, ~8 min.
bench-scaleout: $(TEST_STAMP)
	$(INSTALL_WRK)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/scaleout.py $(BENCH_ARGS)

## Instructions per S3 request of the whole server under cachegrind (load-independent A/B of two trees:
## BENCH_ARGS="--src /tmp/old/src --src src --src src@20"), ~2 min per tree and operation.
bench-instructions: $(TEST_STAMP)
	@command -v valgrind >/dev/null 2>&1 || apt-get install -y -qq valgrind >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq valgrind >/dev/null)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/instructions.py $(BENCH_ARGS)

## The request-parser fuzzers (tests/fuzz) with many examples; `make test` runs them briefly.
fuzz: $(TEST_STAMP)
	PATH=$(abspath $(BIN)):$$PATH HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/fuzz $(PYTEST_ARGS)

## Differential tests (tests/compat): the same requests to stackbox and to the reference Swift 2.38 +
## s3api + Keystone cloud (../shared/reference-cloud, 127.0.0.1:18080); they skip when it does not answer.
compat: $(TEST_STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -o addopts=-ra tests/compat $(PYTEST_ARGS)

## A bounded resilience soak: mixed S3/Swift traffic while attackers hit the same server.
soak: $(TEST_STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) stackbox-data .pytest_cache
