# The two commands: `make demo` and `make test`. Everything else is set up by them.
# `make lint` runs the checks CI runs before the tests (ruff, mypy --strict).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export TWOFA_DATABASE_URL ?= sqlite:///twofa.db

.PHONY: demo demo-pyramid demo-django test test-fast lint bench screenshots messages clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Every install is held to the exact versions in constraints.txt.
$(VENV)/.installed-demo: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -c constraints.txt -e '.[examples,postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -c constraints.txt -e '.[examples,postgres,test,lint]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	PORT=$(PORT) $(BIN)/python -m examples.flask_app

# The same pages and routes in the other frameworks' examples.
demo-pyramid: $(VENV)/.installed-demo
	PORT=$(PORT) $(BIN)/python -m examples.pyramid_app

demo-django: $(VENV)/.installed-demo
	PORT=$(PORT) $(BIN)/python -m examples.django_app

# axe-core for the accessibility tests, at the version in tests/browser/package-lock.json.
# Without npm those tests skip (and fail in CI), like the others whose parts are missing.
AXE := tests/browser/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/browser --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility tests will skip (apt-get install npm)"; fi

test: $(VENV)/.installed-test $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint findings fail: ruff over the whole tree, mypy --strict over src/ (both configured in pyproject.toml).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# Translations: extract every marked text into the template (twofa.pot), then bring
# each language's catalog up to date with it (README "Languages"). A new language:
# `$(BIN)/pybabel init -D twofa -i $(LOCALE)/twofa.pot -d $(LOCALE) -l xx`.
LOCALE := src/twofa_middleware/locale
messages: $(VENV)/.installed-test
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k Nn_:1,2 --no-location --sort-output \
		--add-comments=Translators: --project=twofa-middleware \
		--copyright-holder="the twofa-middleware authors" -o $(LOCALE)/twofa.pot src/twofa_middleware
	$(BIN)/pybabel -q update -D twofa -i $(LOCALE)/twofa.pot -d $(LOCALE) --no-fuzzy-matching --ignore-obsolete

# The middleware's cost against the bare app, as one table (also written to bench/results/).
# QUICK=1 for a smoke run of every section (under two minutes); wrk is used when installed (apt-get install wrk).
bench: $(VENV)/.installed-test
	QUICK=$(QUICK) $(BIN)/python -m bench

# PNGs of the 2FA pages for README, taken in Debian's chromium (apt-get install chromium oathtool).
screenshots: $(VENV)/.installed-test
	$(BIN)/python -m tests.browser.screenshots docs

clean:
	rm -rf $(VENV) tests/browser/node_modules *.egg-info src/*.egg-info build dist .pytest_cache .mypy_cache .ruff_cache
