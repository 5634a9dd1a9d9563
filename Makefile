# inpage: `make serve` and `make test` are the whole set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
MODEL  ?= smollm2-135m
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install serve model test chromium node wasm bench clean

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

test: install chromium
	$(BIN)/python -m pytest
	node --import ./webgpu/node/register.js --test tests/js/

clean:
	rm -rf $(VENV) node_modules $(WASM_OUT)

# Tokens/sec of every backend in headless Chromium (see the README); results in bench-results/.
bench: install chromium model
	@mkdir -p bench-results
	$(BIN)/inpage bench --context-positions 64,1024 --json bench-results/bench.json --html bench-results/bench.html
