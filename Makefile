# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: demo test test-long test-cluster lint messages system-deps venv clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mehr demo

# Real parts for the tests: Mosquitto from the OS packages.
system-deps:
	@missing=""; \
	{ command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; } || missing="$$missing mosquitto"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v victoria-metrics >/dev/null 2>&1 || missing="$$missing victoria-metrics"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing for the tests (apt-get):$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The message catalogue (docs/translating.md): add the keys a translation lacks, list what is
# left to translate; `make test` fails while anything is.
messages: $(STAMP)
	$(PY) -m mehr.catalogue_sync

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The suite on several pytest-xdist workers (tests/support/schedule.py says how it is spread).
# More workers than the 2 cores: a good part of the suite waits on brokers, processes and
# timeouts rather than computing. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 3
test: $(STAMP) system-deps lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

# Soak sizes of tests whose short size `make test` runs (marked `long`: the chaos test with
# 10,000 events and a 30 s broker outage).
test-long: $(STAMP) system-deps
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup -m long

# The 3-node RabbitMQ cluster test (docs/scale.md), apart from `make test`.
test-cluster: $(STAMP)
	@test -x /usr/lib/rabbitmq/bin/rabbitmq-server || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server; }
	$(PY) -m pytest -q -m cluster tests/cluster

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
