# The two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export TWOFA_DATABASE_URL ?= sqlite:///twofa.db

.PHONY: demo test test-fast bench screenshots clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[examples,postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[examples,postgres,test]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	PORT=$(PORT) $(BIN)/python -m examples.flask_app

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info src/*.egg-info .pytest_cache
