# calico-ansible: the two commands users need are `make lab` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

INVENTORY ?= inventory/lab
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PLAYBOOK := $(BIN)/ansible-playbook -i $(INVENTORY)
# Two scenarios share what used to be five fleets: policy holds the full mesh, CrossSubnet and
# the fresh-host dry run; racks holds the FRR top-of-rack router (docs/lab.md, "Tests and CI").
MOLECULE_SCENARIOS ?= policy racks
# `make molecule` runs two lanes at once (comma between lanes): the fleets spend much of their
# time waiting on systemd, BGP timers and Ansible round trips, not on the 2 cores. Naming
# MOLECULE_SCENARIOS on the command line runs just those, one after the other.
MOLECULE_LANES ?= policy,racks
ifeq ($(origin MOLECULE_SCENARIOS),command line)
MOLECULE_LANES := $(MOLECULE_SCENARIOS)
endif

# Ansible's podman connection plugin and lab.py both run podman: both need runc and the
# lab's ulimits on this kind of machine (see docs/lab.md).
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# molecule and the scenarios call ansible-playbook by name: the venv comes first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# python3-venv comes from `make deps` (order-only: a deps run does not force a venv rebuild).
$(VENV)/.installed: requirements.txt | deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv from requirements.txt

.PHONY: deps
deps: ## Install the machine packages the lab needs (podman, runc, debootstrap)
	$(PYTHON) lab/lab.py deps

# KERNEL=uml: the same lab inside a User-mode Linux kernel, tunnelled with IPIP whatever this
# machine's kernel lacks (lab/uml_lab.py; docs/lab.md). KERNEL=host (the default): this kernel.
KERNEL ?= host
ifeq ($(filter $(KERNEL),host uml),)
$(error KERNEL=$(KERNEL): use KERNEL=host (this machine's kernel, the default) or KERNEL=uml)
endif

.PHONY: lab
lab: deps venv ## Build the podman lab from INVENTORY (MIRROR=Debian URL on non-Debian machines; KERNEL=uml: inside UML with IPIP), converge, verify
ifeq ($(KERNEL),uml)
	$(PYTHON) lab/lab.py image $(if $(MIRROR),--mirror $(MIRROR))
	$(PYTHON) lab/uml_lab.py -i $(INVENTORY)
else
	$(PYTHON) lab/lab.py up -i $(INVENTORY) $(if $(MIRROR),--mirror $(MIRROR))
	encapsulation=$$($(PYTHON) lab/lab_encap.py --record $(INVENTORY)) && \
	  $(PLAYBOOK) playbooks/site.yml && \
	  $(PLAYBOOK) playbooks/verify.yml && \
	  echo "lab: cross-subnet encapsulation: $$encapsulation"
endif

.PHONY: lab-down
lab-down: ## Remove every container and network the lab made
	$(PYTHON) lab/lab.py down

.PHONY: validate
validate: venv ## Validate INVENTORY on the controller (no host contacted)
	$(PLAYBOOK) playbooks/validate.yml

.PHONY: dry-run
dry-run: venv ## Show what site.yml would change on INVENTORY (--check --diff), change nothing
	$(PLAYBOOK) playbooks/site.yml --check --diff

.PHONY: lint
lint: venv ## yamllint, ansible-lint, ruff, Python 3.9 on hosts (vermin), docs and changelog current
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vermin --target=3.9- --violations --no-tips --eval-annotations plugins/modules plugins/module_utils
	$(BIN)/python tools/variables_doc.py --check
	$(BIN)/antsibull-changelog lint

.PHONY: sanity
sanity: venv ## ansible-test sanity on the built collection (no container, no host but PyPI)
	tools/sanity.sh

.PHONY: consumer
consumer: deps venv ## Build the tarball, install it, run it from a separate consumer project
	$(PYTHON) lab/lab.py image
	$(BIN)/pytest -s tests/consumer

.PHONY: docs
docs: venv ## Regenerate docs/variables.md (and the known-variable list) from the argument specs
	$(BIN)/python tools/variables_doc.py

.PHONY: unit
unit: deps venv ## Unit, golden-file (tests/golden, parsed by the real bird) and catalog tests
	$(BIN)/pytest tests/unit tests/golden tests/catalog

# The kernel-device tests twice: on the machine's kernel (IPIP skips where it lacks
# CONFIG_NET_IPIP, and says so), then inside a User-mode Linux kernel that has ipip (lab/uml.py),
# where nothing may skip. The iptables tests run on the machine's kernel only: UML's kernel has
# no nft NAT (no nft_chain_nat module) and runs Ansible's AnsiballZ about 20x slower.
UML_TESTS := tests/integration/test_tunnel_netns.py tests/integration/test_workloads_netns.py
.PHONY: integration
integration: deps venv ## Modules against real kernels in throw-away namespaces: this one, then UML
	$(BIN)/pytest tests/integration
	$(PYTHON) lab/uml.py run -- $(BIN)/pytest -p no:cacheprovider -rP $(UML_TESTS)

# The seed's IPIP mode with the real roles: a two-host fleet on two subnets (tests/uml) brought
# up, converged and verified inside UML by lab/uml_lab.py, then tests/uml checks its routes and
# packets against the expectations written there. Not in `make test` yet: about 23 minutes
# even on an idle machine (UML runs every task on one core, through ptrace), which would take
# CI past its 35-minute budget (docs/lab.md). Run it by hand after changes to the IPIP path.
.PHONY: uml-fleet
uml-fleet: deps venv ## The seed's IPIP on a two-host fleet with the real roles, inside UML
	$(PYTHON) lab/lab.py image
	$(PYTHON) lab/uml_lab.py -i tests/uml/inventory --then $(BIN)/pytest -p no:cacheprovider -rP tests/uml

.PHONY: molecule
molecule: deps venv ## Multi-host scenarios in podman containers
	$(PYTHON) lab/lab.py image
	.ci/lanes "$(MOLECULE_LANES)" $(BIN)/molecule test -s

.PHONY: faults
faults: deps venv ## Fault tests on a podman fleet: bad input, restarts, kills, reset, a dead host
	$(PYTHON) lab/lab.py image
	$(BIN)/pytest -s tests/faults

TEST_TARGETS := lint unit integration molecule faults sanity consumer

# Each target in turn through .ci/timed, which prints every target's wall time at the end.
.PHONY: test
test: deps venv ## Everything CI runs, with each target's wall time
	.ci/timed "$(MAKE) --no-print-directory" $(TEST_TARGETS)

.PHONY: bench
bench: venv ## Benchmarks (print times and ratios)
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_iptables.py
	$(BIN)/python bench/bench_node.py
	$(BIN)/python bench/bench_controller.py
