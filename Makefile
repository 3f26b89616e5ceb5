# Relit developer entry points. Every target creates or reuses the cached virtual environment.
SHELL := /bin/bash
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3.11
CACHE ?= $(HOME)/.cache/relit
PIP_FLAGS := --disable-pip-version-check --no-input -q

DEV_REQS := requirements/runtime.txt requirements/dev.txt
TRAIN_REQS := $(DEV_REQS) requirements/training.txt
DEV_HASH := $(shell cat $(DEV_REQS) | sha256sum | cut -c1-16)
TRAIN_HASH := $(shell cat $(TRAIN_REQS) | sha256sum | cut -c1-16)
DEV_VENV := $(CACHE)/venvs/dev-$(DEV_HASH)
TRAIN_VENV := $(CACHE)/venvs/train-$(TRAIN_HASH)
PY := .venv/bin/python
TPY := .venv-train/bin/python

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' blender_manifest.toml)
ZIP := dist/relit-$(VERSION).zip
WHEEL_CACHE := $(CACHE)/wheels
EXT_TOOL = $(PY) $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/bpy/5.0/scripts/addons_core/bl_pkg/cli/blender_ext.py

.PHONY: help venv venv-train wheels extension lint test unit demo bench batch clean

help:
	@echo "make demo        create the environment and run the main job on a bundled example"
	@echo "make test        lint, then unit, Blender and training tests (builds the extension first)"
	@echo "make lint        ruff over the repository (rules: pyproject.toml [tool.ruff])"
	@echo "make unit        the unit tests only (tests/unit, no bpy)"
	@echo "make bench       benchmarks into bench/results.json"
	@echo "make batch       tools/batch.py with ARGS (Blender as a module)"
	@echo "make extension   build $(ZIP) with Blender's extension tool"
	@echo "make wheels      the wheels the extension bundles, into ./wheels"
	@echo "make venv        the dev environment (.venv: runtime, bpy, pytest, ruff)"
	@echo "make venv-train  the training environment (.venv-train: PyTorch, ONNX)"
	@echo "make clean       remove dist, wheels, demo_out and the pytest cache"

# A venv is built once per set of pins, outside the clone, and linked: $(call build_venv,DIR,REQS,LINK).
define build_venv
	@set -e
	if [ ! -f "$(1)/.complete" ]; then
	  echo "creating $(1)"; rm -rf "$(1)"; mkdir -p "$(CACHE)/venvs"
	  $(PYTHON) -m venv "$(1)"
	  "$(1)/bin/pip" install $(PIP_FLAGS) -r $(2)
	  touch "$(1)/.complete"
	fi
	ln -sfn "$(1)" $(3)
endef

venv:
	$(call build_venv,$(DEV_VENV),requirements/dev.txt,.venv)

venv-train:
	$(call build_venv,$(TRAIN_VENV),requirements/training.txt,.venv-train)

# Wheels named in blender_manifest.toml, fetched once into the cache, then copied to ./wheels.
wheels: venv
	@set -e
	mkdir -p wheels "$(WHEEL_CACHE)"
	# A wheel with the build tag 1relit is derived from the PyPI wheel of the same name and version
	# by tools/slim_wheel.py; every other wheel is the PyPI one (pins: requirements/bundle.txt).
	names=$$(grep -o '\./wheels/[^"]*\.whl' blender_manifest.toml | xargs -n1 basename)
	missing=0
	for f in $$names; do
	  [ -f "$(WHEEL_CACHE)/$${f/-1relit-/-}" ] || missing=1
	done
	if [ $$missing = 1 ]; then
	  for plat in manylinux_2_28_x86_64 win_amd64 macosx_14_0_arm64; do
	    $(PY) -m pip download $(PIP_FLAGS) --no-deps --only-binary=:all: --python-version 3.11 \
	      --implementation cp --platform $$plat --platform manylinux2014_x86_64 \
	      --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
	      --platform macosx_10_9_universal2 --platform macosx_11_0_universal2 \
	      --platform macosx_11_0_arm64 --platform macosx_13_0_arm64 \
	      -r requirements/bundle.txt -d "$(WHEEL_CACHE)"
	  done
	fi
	for f in $$names; do
	  src="$(WHEEL_CACHE)/$${f/-1relit-/-}"
	  [ -f "$$src" ] || { echo "wheel not found after download: $$(basename "$$src")" >&2; exit 1; }
	  [ -f "wheels/$$f" ] && continue
	  if [ "$$(basename "$$src")" = "$$f" ]; then
	    cp "$$src" "wheels/$$f"
	  else
	    $(PY) tools/slim_wheel.py "$$src" "wheels/$$f.tmp" && mv "wheels/$$f.tmp" "wheels/$$f"
	  fi
	done
	# Blender's build packs every wheel in ./wheels: remove those the manifest no longer names.
	for w in wheels/*.whl; do
	  echo "$$names" | grep -qxF "$$(basename "$$w")" || { echo "removing stale $$w"; rm -f "$$w"; }
	done

# One zip per platform (Blender's --split-platforms), and dist/relit-<version>.zip for this machine.
extension: wheels
	@set -e
	rm -rf dist/.build && mkdir -p dist/.build
	$(EXT_TOOL) build --source-dir . --output-dir dist/.build --split-platforms
	host=$$($(PY) tools/host_platform.py)
	$(EXT_TOOL) validate "dist/.build/relit-$(VERSION)-$$host.zip"
	mv dist/.build/*.zip dist/
	cp "dist/relit-$(VERSION)-$$host.zip" "$(ZIP).tmp" && mv "$(ZIP).tmp" "$(ZIP)"
	rm -rf dist/.build
	echo "built $(ZIP)"

lint: venv
	$(PY) -m ruff check .

test: lint venv-train extension
	@set -e   # one shell for the recipe (.ONESHELL): a failing suite must fail make test
	RELIT_EXTENSION_ZIP="$(CURDIR)/$(ZIP)" $(PY) -m pytest tests --ignore=tests/training $(PYTEST_ARGS)
	$(TPY) -m pytest tests/training $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

demo: venv
	$(PY) -m inference demo --out demo_out --overwrite  # the project's own folder (make clean removes it)

bench: venv
	$(PY) bench/run.py --out bench/results.json

batch: venv
	$(PY) tools/batch.py $(ARGS)

clean:
	rm -rf dist wheels .pytest_cache demo_out
