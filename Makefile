# Shortcuts for developers; CI runs .ci/run. Every target uses the project virtual environment .venv.
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: venv demo test test-pg lint ci

venv:  # creates .venv once; run the README test command yourself to refresh it
	test -x .venv/bin/pytest || (python3 -m venv .venv && .venv/bin/pip install -e '.[test]')

demo: venv
	.venv/bin/civicpulse demo

test: venv
	.venv/bin/python -m pytest

test-pg: venv
	CIVICPULSE_TEST_DATABASE_URL=$(PG_URL) CIVICPULSE_TEST_REDIS_URL=$(REDIS_URL) .venv/bin/python -m pytest

lint: venv
	.venv/bin/ruff check src tests $(wildcard bench)
	MYPYPATH=src .venv/bin/mypy

ci:
	bash .ci/run
