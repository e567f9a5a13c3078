# dagspec — every target installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/generated_dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export DO_NOT_TRACK := 1

.PHONY: venv compile-dags lint-specs check test test-distributed stress bench fuzz oracle airflow-up airflow-down slurm-up slurm-down clean

venv: $(STAMP)

$(STAMP): pyproject.toml runtime/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ./runtime -e '.[airflow,dev]'
	touch $@

compile-dags: $(STAMP)
	$(BIN)/dagspec compile

lint-specs: $(STAMP)
	$(BIN)/dagspec lint

# Lint, format, types, the generated files up to date, and every test that needs no service
# (no Slurm, PostgreSQL, Airflow stack or Celery; Airflow itself runs embedded): minutes.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/dagspec compile --check
	$(BIN)/pytest -q -m "not (slurm or postgres or e2e or celery or airflow)" --ignore=tests/system/stress

# Slurm is started once for the whole run and stopped afterwards, whatever pytest says.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/dagspec compile --check
	scripts/system-packages.sh
	scripts/slurm-up.sh
	status=0; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest --ignore=tests/system/stress \
		--ignore=tests/system/distributed/test_faults.py || status=$$?; \
	scripts/slurm-down.sh --quiet; exit $$status

# The process-tree matrix of `dagspec run` (tests/cli/test_run_ownership.py, 42 cases: both paths x
# every signal x modules running / jobs being submitted / jobs running) 5 times beside 2
# CPU-bound processes (scripts/soak.sh; `make test` runs a 4-case slice).
.PHONY: soak-ownership
soak-ownership: $(STAMP)
	scripts/slurm-up.sh
	status=0; DAGSPEC_OWNERSHIP_MATRIX=full SOAK_TESTS=tests/cli/test_run_ownership.py \
		scripts/soak.sh || status=$$?; \
	scripts/slurm-down.sh --quiet; exit $$status

# Many quick Slurm steps through a real scheduler + triggerer, 3 runs (tests/system/stress, minutes).
# DAGSPEC_STRESS_SUBGROUPS / DAGSPEC_STRESS_RUNS change the size.
stress: $(STAMP)
	scripts/slurm-up.sh
	status=0; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests/system/stress -q -s || status=$$?; \
	scripts/slurm-down.sh --quiet; exit $$status

# The suites that race with the machine (tests/system/e2e, tests/runtime/slurm, tests/runtime/reduction) 5 times in a
# row beside 2 CPU-bound processes (scripts/soak.sh; SOAK_RUNS, SOAK_LOAD, SOAK_TESTS, SOAK_WRAP).
.PHONY: soak
soak: $(STAMP)
	scripts/soak.sh

# The Celery stack suite alone (also part of `make test`): two worker hosts, shared and object
# storage, a killed worker, the reduction pipeline's Slurm jobs from both workers.
test-distributed: $(STAMP)
	scripts/slurm-up.sh
	status=0; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests/system/distributed -m celery -s \
		|| status=$$?; scripts/slurm-down.sh --quiet; exit $$status

# Every Airflow lane (tests/system/compat/lanes.py): the runtime alone in each supported Airflow
# release, and the compiler alone. `make test` runs the oldest lane only.
.PHONY: test-compat
test-compat: $(STAMP)
	DAGSPEC_COMPAT=all PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests/system/compat -q

# The Celery stack's recovery from its dependencies (tests/system/distributed/test_faults.py):
# Redis stopped 20 s and PostgreSQL restarted, each mid-run; no Slurm.
.PHONY: test-faults
test-faults: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests/system/distributed/test_faults.py -s -q

# Ratios against hand-written DAGs and dag-factory, compile throughput (bench_cold.py: 1,000
# self-contained specs cold, Airflow check off), lint, meta-log and Slurm
# overhead: each prints its table; bench/run.py also writes bench/results.md and results.png.
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bench_incremental.py
	$(BIN)/python bench/bench_cold.py --repeats 5
	$(BIN)/python bench/bench_lint.py
	$(BIN)/python bench/bench_metalog.py
	$(BIN)/python bench/bench_local_run.py
	$(BIN)/python bench/bench_etl.py
	$(BIN)/python bench/bench_dag_processor.py --dags 1000 --repeats 3 --pack 50
	$(BIN)/python bench/bench_dag_processor.py --dags 10000 --repeats 1 --pack 50 --layouts packed
	scripts/slurm-up.sh
	AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING $(BIN)/python bench/bench_slurm.py

# The ETL type oracle with many random examples per format and backend; `make test` runs a few.
oracle: $(STAMP)
	DAGSPEC_ORACLE_EXAMPLES=200 $(BIN)/pytest tests/runtime/etl/test_type_oracle.py -p no:cacheprovider -q

# At least 10,000 generated and mutated specs (5,000 per fuzz test, 10,000 for the Airflow gate
# test, which prints generated / lint-clean / imported / refused); `make test` runs a sample.
fuzz: $(STAMP)
	DAGSPEC_FUZZ_EXAMPLES=5000 $(BIN)/pytest tests/compile/fuzz -p no:cacheprovider -q -s

# EXECUTOR=celery: Redis, PostgreSQL and two Celery workers, each a separate host (docs/distributed.md).
EXECUTOR ?= $(or $(DAGSPEC_AIRFLOW_EXECUTOR),local)
airflow-up: $(STAMP)
	DAGSPEC_AIRFLOW_EXECUTOR=$(EXECUTOR) scripts/airflow-up.sh

airflow-down:
	scripts/airflow-down.sh

slurm-up:
	scripts/slurm-up.sh

slurm-down:
	scripts/slurm-down.sh

clean:
	rm -rf $(VENV) .airflow .pytest_cache
