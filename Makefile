# Gendan — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_STAMP := frontend/static/vendor/.stamp
CHROMIUM ?= /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers; each gets its own SQLite file and PostgreSQL database
WORKERS ?= 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test deps vendor browser migrate demo lint bench constraints clean

# migrate + demo (unless loaded) + serve in one process: `gendan serve --prepare`
run: deps vendor ## start Gendan with demo data on the embedded SQLite database
	$(BIN)/gendan serve --prepare --host $(HOST) --port $(PORT)

# Exit status 5 means "no tests collected": fine when PYTEST_ARGS selected a subset that happens to
# be empty, a failure for the whole suite (an empty suite must never pass CI).
test: deps vendor browser ## the whole suite, on SQLite and PostgreSQL, with a real browser
	@if ! $(BIN)/python -c 'import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()' \
	    "$${GENDAN_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}" 2>/dev/null; then \
	  echo "!!! WARNING: PostgreSQL does not answer at $${GENDAN_TEST_PG_URL:-127.0.0.1:5432}: its half of the suite will be SKIPPED !!!"; fi
	@rc=0; $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup -p no:randomly $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ] && [ -n "$(PYTEST_ARGS)" ]; then echo "no tests selected by PYTEST_ARGS=$(PYTEST_ARGS)"; rc=0; fi; \
	exit $$rc

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

$(VENDOR_STAMP): frontend/package.json frontend/package-lock.json scripts/vendor.py
	npm ci --prefix frontend --ignore-scripts --no-audit --no-fund --loglevel=error
	$(BIN)/python scripts/vendor.py
	touch $(VENDOR_STAMP)

vendor: deps $(VENDOR_STAMP)

# Debian packages the suite needs: chromium (browser tests; never a downloaded browser), CJK fonts,
# tesseract with Chinese and English and poppler's pdftoppm (contract OCR). Installed when any is missing.
browser: ## Debian's chromium, fonts and OCR packages for the tests
	@test -x $(CHROMIUM) && command -v tesseract >/dev/null && command -v pdftoppm >/dev/null \
	  && tesseract --list-langs 2>/dev/null | grep -qx chi_sim || { echo "installing Debian's chromium, fonts and tesseract"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng poppler-utils) >/dev/null; }
	@test -x $(CHROMIUM) && $(CHROMIUM) --version

migrate: deps
	$(BIN)/gendan migrate

demo: deps
	$(BIN)/gendan demo

lint: deps
	$(BIN)/ruff check .

bench: deps ## 1,000,000 orders in PostgreSQL (database gendan_bench), order list and detail timings
	$(BIN)/python -m bench.orders_list $(BENCH_ARGS)

constraints: deps ## rewrite constraints.txt from the installed .venv (after changing pyproject.toml)
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) frontend/node_modules frontend/static/vendor
