# One entry point for people and CI. Everything runs inside .venv/ in the checkout.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= local
PROFILE ?= small
RATES ?= realistic
STAMP := $(VENV)/.installed
JARS_STAMP := .ivy2/.resolved

.PHONY: venv jars test test-fast demo lint generate ingest package bench clean

venv: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Resolve the Delta Lake jars from Maven Central into .ivy2/ once; later sessions reuse the cache.
jars: $(JARS_STAMP)

$(JARS_STAMP): $(STAMP) conf/base.yaml
	$(PY) -m jobs.warm_jars --env $(ENV)
	touch $@

test: venv jars
	$(PY) -m pytest

test-fast: venv jars
	$(PY) -m pytest -m "not slow"

lint: venv
	$(VENV)/bin/ruff check lib jobs tests bench notebooks examples
	$(VENV)/bin/ruff format --check lib jobs tests bench notebooks examples

generate: venv jars
	$(PY) -m jobs.generate_sources --env $(ENV) --profile $(PROFILE) --rates $(RATES)

ingest: venv jars
	$(PY) -m jobs.ingest --env $(ENV)

demo: venv jars
	$(PY) -m jobs.pipeline --env $(ENV) --profile $(PROFILE) --rates $(RATES)

# The performance benchmark (well over an hour on 2 cores; at 1M, (a) and (b) alone took 27
# minutes): the resolve stage, with each training engine, against Splink's Spark and DuckDB
# runs at each size, then how the blocking rules' comparisons grow.
BENCH_SIZES ?= 100000,300000,1000000
BENCH_WORK ?= build/bench
bench: venv jars
	$(PY) bench/resolve_engines.py --sizes $(BENCH_SIZES) --work $(BENCH_WORK)
	$(PY) bench/blocking_growth.py --out $(BENCH_WORK)/blocking_growth.json \
		--configs $$(echo $(BENCH_SIZES) | tr ',' '\n' | sed 's#.*#$(BENCH_WORK)/n&/overlay.yaml#' | paste -sd, -)

# Cluster artefacts: the wheel (jobs, package, conf, console commands) and a zip for spark-submit --py-files.
package: venv
	rm -rf dist && $(PY) -m pip wheel -q --no-deps -w dist .
	cd lib && ../$(PY) -m zipfile -c ../dist/ebuy_customer_identity.zip customer_identity ../jobs
	@ls -l dist

clean:
	rm -rf data/ dist/ spark-warehouse/ metastore_db/ derby.log .pytest_cache
