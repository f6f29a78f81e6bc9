# The two commands a new machine needs: `make run` and `make test`.
# The interpreter for the virtual environment. Debian's CPython is built with profile-guided and
# link-time optimization; a pyenv or plain source build usually is not, and runs the request path
# markedly slower (bench/README.md). So the distribution's python3.11 is preferred when it can make a
# venv; PY=... still picks another.
DISTRO_PY := /usr/bin/python3.11
PY ?= $(shell $(DISTRO_PY) -c 'import venv, ensurepip' >/dev/null 2>&1 && echo $(DISTRO_PY) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest system bench clean test-loaded compile

$(STAMP): pyproject.toml
	$(PY) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# System packages the tests talk to for real. Installed only when missing. Redmine (for the redmine backend's
# tests) runs on Rails' own server, WEBrick from Debian's Ruby: installed without its recommended Passenger, so
# no web server comes with it.
system:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v /usr/sbin/dovecot >/dev/null 2>&1 || missing="$$missing dovecot-imapd"; \
	command -v /usr/sbin/slapd >/dev/null 2>&1 || missing="$$missing slapd"; \
	command -v ldapsearch >/dev/null 2>&1 || missing="$$missing ldap-utils"; \
	command -v /usr/sbin/rt-setup-database >/dev/null 2>&1 || missing="$$missing request-tracker5"; \
	dpkg -s rt5-db-sqlite >/dev/null 2>&1 || missing="$$missing rt5-db-sqlite"; \
	dpkg -s rt5-standalone >/dev/null 2>&1 || missing="$$missing rt5-standalone"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! dpkg -s redmine redmine-sqlite ruby-webrick >/dev/null 2>&1; then \
		echo "installing: redmine redmine-sqlite ruby-webrick"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			redmine redmine-sqlite ruby-webrick >/dev/null; \
	fi

# The project's own modules byte-compiled ahead: every process (and the tests start hundreds) then loads them
# instead of compiling them, about 0.35 s a start, where PYTHONDONTWRITEBYTECODE keeps Python from writing what it
# compiled (this machine sets it). Only what changed is compiled again; a stale file is never used.
compile: $(STAMP)
	@$(BIN)/python -m compileall -q gateway workers channels normalizers

run: $(STAMP) compile
	$(BIN)/intake up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system compile
	$(BIN)/pytest -n 2 --durations=25

test: lint typecheck pytest

bench: $(STAMP) system compile
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python bench/intake_throughput.py

# The suite on a busy machine (issue 13): the same tests while stress-ng keeps both cores at 100%. Tests wait on
# outcomes with generous deadlines, so they pass here too, only slower.
test-loaded: $(STAMP) system compile
	@command -v stress-ng >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null)
	stress-ng --cpu 2 --quiet & load=$$!; \
	$(BIN)/pytest -n 2 --durations=25; status=$$?; kill $$load; wait $$load 2>/dev/null; exit $$status

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
	find gateway workers channels normalizers -name __pycache__ -prune -exec rm -rf {} +
