# inpage: `make serve` and `make test` are the whole set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
MODEL  ?= smollm2-135m
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install serve model test test-py test-js chromium node clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node:
	@command -v npm >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q nodejs npm; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(APT) update -q && $(APT) install -y -q chromium; }

model: install
	$(BIN)/inpage models pull $(MODEL)

serve: install model
	$(BIN)/inpage serve --host $(HOST) --port $(PORT)

test: install chromium
	$(BIN)/python -m pytest
	node --test tests/js/

clean:
	rm -rf $(VENV) node_modules
