// The WASM runtime: picks a kernels build the browser runs (relaxed-SIMD, else SIMD128), owns the
// memory and a bump allocator over it, and a pool of helper threads sharing that memory.

import { CTL_INTS, DONE, GEN, MAIN_WAITING, SLEEPING, execute } from './jobs.js';

const PAGE = 65536;
// All a wasm32 memory addresses, 4 GiB, less the one 64 KiB page the linker cannot express: the
// kernels are built with --max-memory=4294901760, and Chromium grows a shared memory to all of it
// (tests/browser/test_memory_limit.py).
export const MAX_BYTES = 4 * 2 ** 30 - PAGE;
const MAX_PAGES = MAX_BYTES / PAGE;
export const THREAD_STACK = 256 * 1024;
export const ALIGN = 64;
const SPIN = 200000;

// The kernels' bytes: fetched in the page; read from disk in node, whose fetch takes no file: URLs.
async function kernelBytes(url) {
  const missing = (why) => new Error(`${url.pathname.split('/').at(-1)}: ${why} (run \`make wasm\` on the host)`);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url).catch((e) => Promise.reject(missing(e.code)));
  }
  const res = await fetch(url);
  if (!res.ok) throw missing(`HTTP ${res.status}`);
  return res.arrayBuffer();
}

export class WasmRuntime {
  /** @param {{n_threads: number}} options; n_threads > 1 needs cross-origin isolation. */
  static async create({ n_threads }) {
    const shared = n_threads > 1 && globalThis.crossOriginIsolated === true;
    const memKind = shared ? 'shared' : 'local';
    let module = null;
    let simd = null;
    for (const variant of ['relaxed', 'simd']) {
      const bytes = await kernelBytes(new URL(`../../wasm/out/kernels-${variant}-${memKind}.wasm`, import.meta.url));
      if (WebAssembly.validate(bytes)) {
        module = await WebAssembly.compile(bytes);
        simd = variant;
        break;
      }
    }
    if (!module) throw new Error('this browser lacks WebAssembly SIMD');
    const memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const rt = new WasmRuntime(module, memory, instance.exports, shared ? n_threads : 1, simd);
    await rt.startThreads();
    return rt;
  }

  constructor(module, memory, exports, n_threads, simd) {
    this.module = module;
    this.memory = memory;
    this.k = exports;
    this.n_threads = n_threads;
    this.simd = simd;
    this.top = align(exports.__heap_base.value, ALIGN);
    this.workers = [];
    this.ctl = new Int32Array(n_threads > 1 ? new SharedArrayBuffer(CTL_INTS * 4) : new ArrayBuffer(CTL_INTS * 4));
  }

  /** Reserve nbytes (ALIGN-byte aligned); grows the memory when needed. */
  alloc(nbytes) {
    const ptr = this.top;
    this.top = align(ptr + nbytes, ALIGN);
    const pages = Math.ceil(this.top / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (pages > MAX_PAGES) throw new Error(`the model needs more than the 4 GiB a WASM engine can address`);
    if (pages > have) this.memory.grow(pages - have);
    return ptr;
  }

  // Views must be made after the last grow; callers take them fresh, not once.
  f32(ptr, n) {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  u8(ptr, n) {
    return new Uint8Array(this.memory.buffer, ptr, n);
  }

  async startThreads() {
    const ready = [];
    for (let tid = 1; tid < this.n_threads; tid++) {
      const stack_top = this.alloc(THREAD_STACK) + THREAD_STACK;
      const worker = new Worker(new URL('./kernel_thread.js', import.meta.url), { type: 'module' });
      ready.push(new Promise((resolve, reject) => {
        worker.onmessage = ({ data }) => data.type === 'ready' && resolve();
        worker.onerror = (e) => reject(new Error(`kernel thread ${tid} failed to start: ${e.message}`));
      }));
      worker.postMessage({ module: this.module, memory: this.memory, ctl: this.ctl.buffer, tid, n_threads: this.n_threads, stack_top });
      this.workers.push(worker);
    }
    await Promise.all(ready);
  }

  /** Run the job written at ctl[OP..] on every thread; returns when all are done. */
  run() {
    const a = this.ctl;
    const helpers = this.n_threads - 1;
    if (helpers === 0) {
      execute(this.k, a, 0, 1);
      return;
    }
    Atomics.store(a, DONE, 0);
    Atomics.add(a, GEN, 1);
    if (Atomics.load(a, SLEEPING) > 0) Atomics.notify(a, GEN);
    execute(this.k, a, 0, this.n_threads);
    let spins = 0;
    for (;;) {
      const done = Atomics.load(a, DONE);
      if (done === helpers) break;
      if (++spins > SPIN) {
        Atomics.store(a, MAIN_WAITING, 1);
        Atomics.wait(a, DONE, done, 50);
        Atomics.store(a, MAIN_WAITING, 0);
        spins = 0;
      }
    }
  }

  terminate() {
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}

function align(n, to) {
  return Math.ceil(n / to) * to;
}
