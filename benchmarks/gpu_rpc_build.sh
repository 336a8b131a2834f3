#!/usr/bin/env bash
# Runs ON the lent GPU machine (project root, .gpu/ from ../shared/tools/gpu/prepare.sh carried over): builds
# llama-cpp-python with CUDA AND the RPC backend (-DGGML_RPC=ON, as `make setup` does) into /tmp/site. The shared
# .gpu/build.sh builds CUDA only; this is the same build with the backend set the README's setup uses.
set -euo pipefail
if python3 -c 'import sys; sys.path.insert(0, "/tmp/site"); import llama_cpp; assert llama_cpp.llama_supports_gpu_offload(); assert hasattr(llama_cpp, "llama_cpp")' 2>/dev/null \
   && ls /tmp/site/llama_cpp/lib/libggml-rpc* >/dev/null 2>&1; then
  echo "llama-cpp-python with CUDA and RPC already in /tmp/site"; exit 0
fi
rm -rf /tmp/lcp /tmp/site && mkdir -p /tmp/lcp /tmp/site
tar xzf .gpu/lcp-src.tgz -C /tmp/lcp
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .gpu/wheels/*.whl
start=$(date +%s)
CMAKE_ARGS="-DGGML_CUDA=on -DGGML_RPC=ON -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90} -DLLAVA_BUILD=OFF" \
  python3 -m pip install -q --no-build-isolation --no-index --no-deps --no-compile --target /tmp/site /tmp/lcp/lcp
echo "llama-cpp-python built with CUDA + RPC in $(( $(date +%s) - start )) s"
ls /tmp/site/llama_cpp/lib/
PYTHONPATH=/tmp/site python3 -c 'import llama_cpp; print("gpu offload:", llama_cpp.llama_supports_gpu_offload()); print(llama_cpp.llama_print_system_info().decode())'
