// A helper thread of the WASM backend: its own instance of the kernels over the shared memory,
// waiting for jobs from thread 0. It spins briefly before parking, because jobs come every few
// microseconds while a reply is being generated.

import { DONE, GEN, SLEEPING, MAIN_WAITING, execute } from './jobs.js';

const SPIN = 200000;

onmessage = async ({ data }) => {
  const { module, memory, ctl, tid, n_threads, stack_top } = data;
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const k = instance.exports;
  k.__stack_pointer.value = stack_top; // each thread needs a stack of its own in the shared memory
  const a = new Int32Array(ctl);
  postMessage({ type: 'ready', tid });
  let seen = Atomics.load(a, GEN);
  for (;;) {
    let spins = 0;
    while (Atomics.load(a, GEN) === seen) {
      if (++spins > SPIN) {
        Atomics.add(a, SLEEPING, 1);
        Atomics.wait(a, GEN, seen);
        Atomics.sub(a, SLEEPING, 1);
        spins = 0;
      }
    }
    seen = Atomics.load(a, GEN);
    execute(k, a, tid, n_threads);
    if (Atomics.add(a, DONE, 1) === n_threads - 2 && Atomics.load(a, MAIN_WAITING)) Atomics.notify(a, DONE);
  }
};
