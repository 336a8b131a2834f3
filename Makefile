# Two commands do everything on a fresh Linux machine:  make run   and   make test
# Both create .venv/ in this folder and install SpecChat with llama-cpp-python compiled from source.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# llama.cpp's CUDA backend is built when nvcc AND an NVIDIA GPU (nvidia-smi -L) are found, unless CMAKE_ARGS is
# set by you (e.g. CMAKE_ARGS="-DGGML_CUDA=on" to force it, CMAKE_ARGS="-DGGML_CUDA=off" for CPU only).
ifeq ($(origin CMAKE_ARGS),undefined)
  ifneq ($(shell command -v nvcc >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes),)
    CMAKE_ARGS := -DGGML_CUDA=on
  endif
endif
# The RPC backend (ggml-rpc: the main model's layers on other machines' `python -m app rpc-server`) is built
# always, on CPU and CUDA alike, unless CMAKE_ARGS names GGML_RPC itself.
LLAMA_CMAKE := $(strip $(CMAKE_ARGS) $(if $(findstring GGML_RPC,$(CMAKE_ARGS)),,-DGGML_RPC=ON))
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
# pip's own wheel cache keys a wheel it compiled by the sdist alone, not by CMAKE_ARGS: it would hand back a
# CPU-only wheel to a CUDA build. So the compiled wheel is kept in a folder of ours INSIDE pip's cache folder
# (CI keeps that folder between runs), named by a hash of the version, the backend flags and the Python: the
# same set installs that wheel in seconds, another set compiles once (~8 minutes) into its own folder.
LLAMA_KEY    := $(shell printf '%s' '$(LLAMA_VERSION) $(LLAMA_CMAKE) '"$$($(PYTHON) -c 'import sys; print(sys.implementation.cache_tag)')" | sha256sum | cut -c1-16)
PIP_CACHE    := $(shell $(PYTHON) -m pip cache dir 2>/dev/null || echo $(HOME)/.cache/pip)
LLAMA_WHEELS := $(PIP_CACHE)/specchat-llama-wheels/$(LLAMA_KEY)
STAMP        := $(VENV)/.installed-$(LLAMA_KEY)
TEST_STAMP   := $(VENV)/.installed-test-$(LLAMA_KEY)

.PHONY: setup setup-test run test bundle desktop clean
# setup: what the app needs and nothing more; setup-test adds the test extras (pytest, mypy, import-linter,
# pyinstaller, the openai client...) on top, for `make test` and `make bundle`
setup: $(STAMP)
setup-test: $(TEST_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
	  echo "Compiling llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_CMAKE)): ~8 minutes, once per backend set."; \
	  rm -rf $(LLAMA_WHEELS) $(LLAMA_WHEELS).tmp; \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel --no-deps --no-binary llama-cpp-python \
	    --no-cache-dir -w $(LLAMA_WHEELS).tmp llama-cpp-python==$(LLAMA_VERSION) && \
	  mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); }
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/python -m pip install --find-links $(LLAMA_WHEELS) -e .
	@rm -f $(VENV)/.installed*
	@touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --find-links $(LLAMA_WHEELS) -e '.[test]'
	@touch $@

run: setup
	$(BIN)/python -m app models starter
	$(BIN)/python -m app

test: setup-test
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

# the one-folder PyInstaller app in dist/SpecChat/, then its own --self-test (CI builds it too, in make test)
bundle: setup-test
	packaging/build_bundle.sh $(BIN)/python

# SpecChat in this user's application menu (double-click to open); `python -m app desktop uninstall` undoes it
desktop: setup
	$(BIN)/python -m app desktop install

clean:
	rm -rf $(VENV) .cache build dist *.egg-info
