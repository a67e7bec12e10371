# Two commands on a fresh machine: `make chat` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
Q ?= Wat is quantisatie volgens Rick Lamers?

.PHONY: install chat ask index eval bench bot test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

chat: $(STAMP)
	$(BIN)/aireport chat

ask: $(STAMP)
	$(BIN)/aireport ask "$(Q)"

index: $(STAMP)
	$(BIN)/aireport index

# Dev and test, beside the LangChain tutorial baseline, with and without 30 look-alike
# episodes, with the units cut 20 words further on, and the verdict cut-offs
# cross-validated on dev (first run ~25 min: it indexes the distractor corpus and the
# second cut; data/eval-cache keeps them for the next run).
eval: $(STAMP)
	$(BIN)/aireport eval eval/dev.jsonl eval/test.jsonl --baseline --distractors 30 --folds 5 \
		--first-unit-words 20

bench: $(STAMP)
	$(BIN)/aireport bench

bot: $(STAMP)
	$(BIN)/python -m bot

# pytest exits 5 when it collects no tests; that is a failure of the suite, say so.
test: $(STAMP)
	@$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check rag bot tests bench
	$(BIN)/ruff format --check rag bot tests bench
	$(BIN)/mypy rag bot

format: $(STAMP)
	$(BIN)/ruff format rag bot tests bench
	$(BIN)/ruff check --fix rag bot tests bench

clean:
	rm -rf $(VENV) data/index data/state .pytest_cache .mypy_cache
