# The README's commands. `make leaderboard` and `make test` each create .venv and
# install the project on first use (pip install -e .[test]; torch pinned <= 2.14.1).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install leaderboard test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet "pip>=23.2"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

leaderboard: $(STAMP)
	$(BIN)/genbench suite quick

# pytest exits 5 when it collects no tests: that is a failure too (and non-zero for make).
test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 tests; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$status

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,mean,rounds -q

clean:
	rm -rf runs .pytest_cache .benchmarks
