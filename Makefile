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
    export CMAKE_ARGS := -DGGML_CUDA=on
  endif
endif
# pip caches the wheel it compiled, keyed by version only: when CMAKE_ARGS asks for a backend, build afresh.
LLAMA_FRESH := $(if $(CMAKE_ARGS),--no-binary llama-cpp-python --no-cache-dir --force-reinstall,)

.PHONY: setup run test bundle desktop clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "Installing SpecChat; compiling llama-cpp-python takes ~8 minutes the first time (cached after)."
	$(BIN)/python -m pip install $(LLAMA_FRESH) -e '.[test]'
	@touch $@

run: setup
	$(BIN)/python -m app models starter
	$(BIN)/python -m app

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# the one-folder PyInstaller app in dist/SpecChat/, then its own --self-test (CI builds it too, in make test)
bundle: setup
	packaging/build_bundle.sh $(BIN)/python

# SpecChat in this user's application menu (double-click to open); `python -m app desktop uninstall` undoes it
desktop: setup
	$(BIN)/python -m app desktop install

clean:
	rm -rf $(VENV) .cache build dist *.egg-info
