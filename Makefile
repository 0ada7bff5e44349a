# Gendan — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_STAMP := frontend/static/vendor/.stamp
CHROMIUM ?= /usr/bin/chromium
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test deps vendor browser migrate demo lint bench clean

run: deps vendor migrate demo ## start Gendan with demo data on the embedded SQLite database
	$(BIN)/gendan serve --host 127.0.0.1 --port 8000

test: deps vendor browser ## the whole suite, on SQLite and PostgreSQL, with a real browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:randomly $(PYTEST_ARGS)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

$(VENDOR_STAMP): frontend/package.json frontend/package-lock.json scripts/vendor.py
	npm ci --prefix frontend --no-audit --no-fund --loglevel=error
	$(BIN)/python scripts/vendor.py
	touch $(VENDOR_STAMP)

vendor: deps $(VENDOR_STAMP)

browser: ## Debian's chromium for the browser tests (never a downloaded browser)
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null; }
	@test -x $(CHROMIUM) && $(CHROMIUM) --version

migrate: deps
	$(BIN)/gendan migrate

demo: deps
	$(BIN)/gendan demo

lint: deps
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) frontend/node_modules frontend/static/vendor
