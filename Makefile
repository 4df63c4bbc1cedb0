# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
#   make venv         .venv from requirements-dev.txt (redone only when that file changes)
#   make test         sanity, units, integration (all three run; fails if any failed)
#   make sanity|units|integration   one ansible-test command via tests/ansible_test.sh
#   make demo / make bench          tests/demo.sh / bench/run.sh
#   make clean        build/ and test outputs (make distclean: the .venv too)
#
# Extra ansible-test arguments: make units ARGS='tests/unit/lab_postfix -v'

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
ARGS ?=
STAMP := $(VENV)/.mxaudit-requirements-dev.stamp
HARNESS := bash tests/ansible_test.sh

export VENV := $(abspath $(VENV))

.PHONY: venv test sanity units integration demo bench clean distclean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	@test -x $(VENV)/bin/python || { echo "make: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

# All three suites run even when one fails, so a CI log shows every failure; the
# target fails when any did.
test: venv
	@failed=""; \
	for suite in sanity units integration; do \
		echo "=== make test: $$suite ==="; \
		start=$$(date +%s); \
		if $(HARNESS) $$suite; then status=ok; else status=FAILED; failed="$$failed $$suite"; fi; \
		echo "=== make test: $$suite $$status ($$(( $$(date +%s) - start ))s) ==="; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: sanity, units and integration passed"

sanity units integration: venv
	$(HARNESS) $@ $(ARGS)

demo: venv
	bash tests/demo.sh $(ARGS)

bench: venv
	bash bench/run.sh $(ARGS)

clean:
	@if [ -L build ]; then echo "rm -rf $$(readlink -f build)"; rm -rf "$$(readlink -f build)"; fi
	rm -rf build tests/output .pytest_cache .hypothesis
	find . -path ./$(notdir $(VENV)) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
