# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
#   make venv         .venv from requirements-dev.txt (redone only when that file changes)
#   make test         every suite: sanity, units, integration, report, roles, bench --quick (all run; fails if any failed)
#   make sanity|units|integration   one ansible-test command via tests/ansible_test.sh
#   make report | roles-test        the report browser tests / the roles and playbooks
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

.PHONY: venv test sanity units integration report demo bench clean distclean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	@test -x $(VENV)/bin/python || { echo "make: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

# Every suite runs even when one fails, so a CI log shows every failure; the target fails when any did.
#   sanity, units, integration   ansible-test (tests/ansible_test.sh)
#   report                       the report role rendered and opened in headless Chromium (tests/report)
#   roles                        roles and playbooks: build, ansible-doc, ansible-lint, molecule, the playbooks
#   bench                        make bench once at N = 200 (bench/run.sh --quick), to prove it works
SUITES ?= sanity units integration report roles bench
test: venv
	@failed=""; passed=0; \
	for suite in $(SUITES); do \
		echo "=== make test: $$suite ==="; \
		start=$$(date +%s); \
		case $$suite in \
			report) cmd="$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/report" ;; \
			roles) cmd="bash tests/roles/run.sh" ;; \
			bench) cmd="bash bench/run.sh --quick" ;; \
			*) cmd="$(HARNESS) $$suite" ;; \
		esac; \
		if $$cmd; then status=ok; passed=$$((passed + 1)); else status=FAILED; failed="$$failed $$suite"; fi; \
		echo "=== make test: $$suite $$status ($$(( $$(date +%s) - start ))s) ==="; \
	done; \
	nfailed=$$(echo $$failed | wc -w); \
	echo "suites: $$passed passed, $$nfailed failed"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi

report: venv
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/report $(ARGS)

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

# make roles-test: the roles and playbooks (tests/roles/run.sh: galaxy build and install,
# ansible-doc -t role, ansible-lint production profile, molecule scenarios, the audit, gate
# and demo playbooks against the lab). One step: make roles-test ARGS='lint molecule'
.PHONY: roles-test
roles-test: venv
	bash tests/roles/run.sh $(ARGS)
