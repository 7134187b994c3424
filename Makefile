# NAOS — `make demo` renders the pilot on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export NAOS_HOME ?= $(CURDIR)/.naos
PROJECT ?= examples/pilot/project.yaml
EPISODE ?= s01e01

.PHONY: install demo dev test lint bench schemas assets clean

install: $(VENV)/.installed

# Exact pins: constraints.txt. The bundled ffmpeg (imageio-ffmpeg) is the only ffmpeg NAOS uses.
# espeak-ng (Debian) is the local TTS: installed here when we are root on a Debian-like machine; without it NAOS
# renders without voices and says so. So is chromium (Debian), the headless browser of the UI end-to-end test
# (tests/test_ui_e2e.py), which skips without it (and fails under CI).
$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v espeak-ng >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; \
	  else echo "naos: espeak-ng is not installed (apt-get install espeak-ng); episodes render without voices"; fi; }
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "naos: chromium is not installed (apt-get install chromium); the UI end-to-end test skips"; fi; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

demo: install
	$(BIN)/naos render --project $(PROJECT) --episode $(EPISODE) --out out/$(EPISODE)

dev: install
	NAOS_HOME=$(NAOS_HOME) $(BIN)/naos queues  # creates the instance for NAOS_PROFILE (docs/DEPLOY.md), sizes the queues
	DAGSTER_HOME=$(NAOS_HOME)/dagster NAOS_PROJECT=$(PROJECT) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q -n 4 --dist loadfile

bench: install
	$(PY) bench/canon_gate.py
	$(PY) bench/tts.py
	$(PY) bench/bench.py
	$(PY) bench/production.py

schemas: install
	$(BIN)/naos schemas

assets: install
	$(PY) scripts/make_example_assets.py

clean:
	rm -rf out .naos
