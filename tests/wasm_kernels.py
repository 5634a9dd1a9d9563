"""Load the engine's wasm kernels in wasmtime, for parity tests against numpy."""
from pathlib import Path

import numpy as np
import wasmtime

OUT = Path(__file__).resolve().parent.parent / "webgpu" / "wasm" / "out"
PAGE = 65536


class Kernels:
    """One instance of a kernels-*-local.wasm build, with a bump allocator over its memory."""

    def __init__(self, variant: str):
        path = OUT / f"kernels-{variant}-local.wasm"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `make wasm`")
        config = wasmtime.Config()
        config.wasm_simd = True
        config.wasm_relaxed_simd = True
        config.wasm_relaxed_simd_deterministic = False
        self.store = wasmtime.Store(wasmtime.Engine(config))
        module = wasmtime.Module.from_file(self.store.engine, str(path))
        self.memory = wasmtime.Memory(self.store, wasmtime.MemoryType(wasmtime.Limits(64, 32768)))
        self.exports = wasmtime.Instance(self.store, module, [self.memory]).exports(self.store)
        self.top = (self.exports["__heap_base"].value(self.store) + 63) & ~63

    def alloc(self, nbytes: int) -> int:
        ptr = self.top
        self.top = (ptr + nbytes + 63) & ~63
        need = -(-self.top // PAGE) - self.memory.size(self.store)
        if need > 0:
            self.memory.grow(self.store, need)
        return ptr

    def put(self, array: np.ndarray) -> int:
        data = np.ascontiguousarray(array).tobytes()
        ptr = self.alloc(len(data))
        self.memory.write(self.store, data, ptr)
        return ptr

    def get(self, ptr: int, count: int, dtype=np.float32) -> np.ndarray:
        n = count * np.dtype(dtype).itemsize
        return np.frombuffer(self.memory.read(self.store, ptr, ptr + n), dtype=dtype).copy()

    def __call__(self, name, *args):
        return self.exports[name](self.store, *args)
