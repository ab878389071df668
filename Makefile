# pymiio: every set-up step lives here, so a fresh machine needs nothing but `make demo` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SRC    := src/pymiio

.PHONY: venv test lint typecheck pytest fuzz bench demo screenshots netns-deps mqtt-deps browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## make test: lint, type-check and the whole suite (network traffic stays on loopback / test netns)
test: $(STAMP) netns-deps mqtt-deps browser-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --cov --cov-report=term

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

## make fuzz: the fuzz tests with far more examples than the default run
fuzz: $(STAMP)
	PYMIIO_FUZZ_EXAMPLES=200000 $(BIN)/pytest -q tests/test_fuzz.py -p no:timeout

## make bench: benchmarks against python-miio and the floor; writes docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## make demo: simulated devices on loopback, then both CLIs against them
demo: $(STAMP) mqtt-deps
	$(BIN)/python -m pymiio.demo

# iproute2 for the namespace tests; installed only where missing and apt is usable.
netns-deps:
	@command -v ip >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null) || echo "iproute2 missing: namespace tests will skip"; }

# Mosquitto for the bridge tests and demo (each starts its own on a loopback port); RUNLEVEL=1
# keeps Debian from starting the system service on install.
mqtt-deps:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && RUNLEVEL=1 apt-get install -y -qq mosquitto >/dev/null) || echo "mosquitto missing: bridge tests will skip"; }

# Debian's chromium for the dashboard tests, driven by Playwright (never `playwright install`:
# nothing downloads a browser); installed only where missing and apt is usable.
browser-deps:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium missing: dashboard browser tests will skip"; }

## make screenshots: the dashboard's pictures in docs/ (from the browser test)
screenshots: $(STAMP) mqtt-deps browser-deps
	PYMIIO_SCREENSHOTS=docs $(BIN)/pytest -q tests/test_dashboard.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
