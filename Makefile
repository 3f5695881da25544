# Two entry points the README promises: `make demo` and `make test`.
# Both work as root on a fresh Debian 12 machine: they install what they need first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PKGS := tmux tmuxinator pass gnupg age gnome-keyring dbus-daemon dbus fish procps python3-venv gcc libc6-dev

.PHONY: system install install-test demo test lint bench clean

system:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi; \
	fi

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: system $(PY)
	$(PY) -m pip install -q -e '.[all]'

install-test: system $(PY)
	$(PY) -m pip install -q -e '.[test]'

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

lint: install-test
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy

test: lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest

bench: install-test
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
