# inpage: `make serve` and `make test` are the whole set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
MODEL  ?= smollm2-135m
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install serve model test chromium node wasm bench clean llama-server

install: $(VENV)/.installed node_modules/.installed wasm

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The engine's C kernels, compiled to wasm32 by zig (PyPI `ziglang`): SIMD128 and relaxed-SIMD
# builds, each with a shared memory (threads, cross-origin isolated pages) or a local one.
WASM_DIR  := webgpu/wasm
WASM_OUT  := $(WASM_DIR)/out
WASM_SRC  := $(wildcard $(WASM_DIR)/*.c)
WASM_DEPS := $(WASM_SRC) $(WASM_DIR)/quants.h $(VENV)/.installed Makefile
WASM_CC   := $(BIN)/python -m ziglang cc --target=wasm32-freestanding -O3 -msimd128 -mbulk-memory \
             -mmutable-globals -mnontrapping-fptoint -nostdlib -Wl,--no-entry -Wl,--import-memory \
             -Wl,--max-memory=4294901760 -Wl,--export=__stack_pointer -Wl,--export=__heap_base \
             -Wl,-z,stack-size=65536 -Wall -Werror
WASM_VARIANTS := simd-local simd-shared relaxed-local relaxed-shared

wasm: $(WASM_VARIANTS:%=$(WASM_OUT)/kernels-%.wasm)

$(WASM_OUT)/kernels-simd-local.wasm: $(WASM_DEPS)
	@mkdir -p $(WASM_OUT)
	$(WASM_CC) $(WASM_SRC) -o $@
$(WASM_OUT)/kernels-simd-shared.wasm: $(WASM_DEPS)
	@mkdir -p $(WASM_OUT)
	$(WASM_CC) -matomics -Wl,--shared-memory $(WASM_SRC) -o $@
$(WASM_OUT)/kernels-relaxed-local.wasm: $(WASM_DEPS)
	@mkdir -p $(WASM_OUT)
	$(WASM_CC) -mrelaxed-simd -DRELAXED_SIMD $(WASM_SRC) -o $@
$(WASM_OUT)/kernels-relaxed-shared.wasm: $(WASM_DEPS)
	@mkdir -p $(WASM_OUT)
	$(WASM_CC) -mrelaxed-simd -DRELAXED_SIMD -matomics -Wl,--shared-memory $(WASM_SRC) -o $@

node:
	@command -v npm >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q nodejs npm; }

chromium:
	@{ command -v chromium && ldconfig -p | grep -q libvulkan.so.1; } >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q chromium libvulkan1; }

model: install
	$(BIN)/inpage models pull $(MODEL)

serve: install model
	$(BIN)/inpage serve --host $(HOST) --port $(PORT)

test: install chromium llama-server
	$(BIN)/python -m pytest
	node --import ./webgpu/node/register.js --test tests/js/

clean:
	rm -rf $(VENV) node_modules $(WASM_OUT) .cache/llama-server

# llama.cpp's OpenAI-compatible server, built from the llama.cpp that the llama-cpp-python sdist
# vendors (the same sources as `inpage bench --native`): the remote tier's real server in the tests,
# and a way to try the remote tier on one machine (README, "The router"). AVX2 rather than
# -march=native: the native build of this version stops with an illegal instruction on these EPYCs.
LLAMA_CPP_PYTHON := 0.3.36
LLAMA_SERVER     := .cache/llama-server/bin/llama-server
LLAMA_BUILD      := .cache/llama-server/build
llama-server: $(LLAMA_SERVER)

$(LLAMA_SERVER): | $(VENV)/.installed
	@{ command -v cmake && command -v g++; } >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q cmake g++; }
	rm -rf $(LLAMA_BUILD) && mkdir -p $(LLAMA_BUILD)
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
	    llama-cpp-python==$(LLAMA_CPP_PYTHON) -d $(LLAMA_BUILD)
	tar xzf $(LLAMA_BUILD)/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(LLAMA_BUILD)
	cmake -S $(LLAMA_BUILD)/llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp -B $(LLAMA_BUILD)/out \
	    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	    -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
	    -DLLAMA_BUILD_EXAMPLES=OFF > $(LLAMA_BUILD)/cmake.log || { tail -30 $(LLAMA_BUILD)/cmake.log; exit 1; }
	cmake --build $(LLAMA_BUILD)/out --target llama-server -j $$(nproc) > $(LLAMA_BUILD)/build.log \
	    || { tail -30 $(LLAMA_BUILD)/build.log; exit 1; }
	mkdir -p $(dir $@) && cp $(LLAMA_BUILD)/out/bin/llama-server $@
	rm -rf $(LLAMA_BUILD)

# Tokens/sec of every backend in headless Chromium (see the README); results in bench-results/.
bench: install chromium model
	@mkdir -p bench-results
	$(BIN)/inpage bench --context-positions 64,1024 --json bench-results/bench.json --html bench-results/bench.html
