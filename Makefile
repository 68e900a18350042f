# Two commands on a fresh machine: `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install bundle run test test-unit test-integration test-e2e bench clean

$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# Builds the demo world and trains the models when no bundle exists (progress on stderr).
bundle: install
	$(PY) -m engine bootstrap

run: bundle
	$(VENV)/bin/gunicorn -c gunicorn.conf.py webapp.wsgi:server

test: install
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install
	$(PY) -m pytest tests/e2e

bench: bundle
	$(PY) benchmarks/world.py --json
	$(PY) benchmarks/topics.py --json
	$(PY) benchmarks/train.py --json
	$(PY) benchmarks/ceiling.py --json
	$(PY) benchmarks/serving.py --json
	$(PY) benchmarks/web.py --json
	$(PY) benchmarks/worker_memory.py --json
	$(PY) benchmarks/real_data.py --json
	$(PY) benchmarks/plan.py --json
	$(PY) benchmarks/impact.py --json

clean:
	rm -rf var/ artifacts/*/ artifacts/current
