// The schedule's ops (webgpu/ops_contract.js) on WebGPU: weights stay packed as GGUF stores them, in
// storage buffers (split by rows where a tensor passes the binding limit); activations and the KV
// cache are f32. A forward pass is one compute pass and one submit, ending in one readback: the
// logits rows, or only one token id (greedy decoding, or sampling on the GPU). An encoder (BERT)
// runs here too: its embedding tables stay on the host, which looks up and sums a pass's input rows
// and writes them before the pass; layer norms, GELU and attention within each packed sequence
// run on the GPU, and the pass ends in a readback of the last layer's rows.

import { mapEncoderWeights } from '../../encoder_model.js';
import { mapWeights, uploadTensors, windowOf } from '../../model.js';
import { bufferColumns } from '../../ops_contract.js';
import { layerRopeTables } from '../../rope_table.js';
import { blobPieces } from '../../tensor_bytes.js';
import { Argmax } from './argmax.js';
import { Attention } from './attention.js';
import { maxBinding, planDevice, requestDevice, rowBytes } from './device.js';
import { Dispatcher } from './dispatcher.js';
import { LayerNorm } from './layernorm.js';
import { MAX_PARTS, MODE, QuantMatvec } from './quant_matvec.js';
import { RMSNorm } from './rmsnorm.js';
import { RopeStore } from './rope_store.js';
import { SAMPLE_LIMITS, Sample } from './sample.js';

const OPS_PER_LAYER = 10; // 8 for the llama family, 10 with Gemma 2/3's post-norms

/**
 * Load a described model onto a WebGPU device; returns {ops, weights, info, release, loseDevice}.
 * gpu: navigator.gpu, or Dawn's in node. limits: lower the device's binding limit (tests of
 * split tensors). onDeviceLost(message): the device was lost or raised an error.
 */
export async function createWebGPUOps(blobs, gguf, model, { n_ctx, n_batch, gpu = globalThis.navigator?.gpu, onDeviceLost = () => {},
  limits = {}, activation_bits = 14, kv_type = 'f32' }) {
  // Its mat-vecs take f32 activations and its KV cache is f32: the WASM backend's options are not its own.
  if (activation_bits !== 14 || kv_type !== 'f32') {
    throw new Error(`the WebGPU backend runs f32 activations and an f32 KV cache: drop activation_bits/kv_type, or use the WASM backend`);
  }
  const { device, description } = await requestDevice(gpu);
  const device_limits = { ...device.limits, maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    maxBufferSize: device.limits.maxBufferSize, ...limits };
  const plan = planDevice(model, device_limits, { n_batch, n_ctx });
  if (!plan.ok) {
    device.destroy();
    throw new Error(`this GPU cannot hold the model: ${plan.reason}`);
  }
  let released = false;
  device.lost.then((info) => released || onDeviceLost(info.message || `device lost (${info.reason})`));
  device.addEventListener?.('uncapturederror', (e) => released || onDeviceLost(e.error?.message ?? 'a GPU error'));
  const T = model.tensors;
  const host = new Set(model.config.encoder ? [T.token_embd, T.position_embd, T.token_types].filter(Boolean).map((t) => t.name) : []);
  const handles = await uploadWeights(device, blobs, uploadTensors(T, gguf.tensors), maxBinding(device_limits), host);
  const weights = (model.config.encoder ? mapEncoderWeights : mapWeights)(T, (t) => handles.get(t.name));
  const kernels = {
    layernorm: await LayerNorm.create(device),
    matvec: await QuantMatvec.create(device, description), rmsnorm: await RMSNorm.create(device), rope: await RopeStore.create(device),
    attention: await Attention.create(device), argmax: await Argmax.create(device),
    sample: await Sample.create(device),
  };
  const ops = new WebGPUOps(device, kernels, model.config, { n_ctx, n_batch });
  return {
    ops, weights,
    info: { threads: 1, adapter: description, weight_bytes: plan.bytes },
    release: () => {
      released = true;
      device.destroy();
    },
    loseDevice: () => device.destroy(),
  };
}

/**
 * Copy each tensor from the shard Blobs into storage buffers: name -> {name, type, rows, cols, parts}.
 * parts: [{buffer, rows, type}], rows split so each part fits max_bytes, each filled from the
 * Blob a piece at a time (no whole copy of a tensor or shard in JS). 1-D tensors (norms, biases)
 * become f32 vectors. Tensors named in `host` (an encoder's embedding tables) stay on the
 * host as f32: {name, type: 0, rows, cols, host: Float32Array}.
 */
async function uploadWeights(device, blobs, tensors, max_bytes, host = new Set()) {
  const handles = new Map();
  for (const t of tensors) {
    const blob = blobs[t.shard];
    const cols = t.dims[0];
    const rows = t.dims[1] ?? 1;
    if (host.has(t.name) || t.dims.length === 1) {
      const src = await wholeBytes(blob, t.offset, t.n_bytes);
      const values = t.type_name === 'F32' ? new Float32Array(src.buffer) : vectorToF32(t, src);
      handles.set(t.name, host.has(t.name)
        ? { name: t.name, type: 0, rows, cols, host: values }
        : { name: t.name, type: 0, rows: 1, cols, parts: [{ buffer: storage(device, t.name, new Uint8Array(values.buffer)), rows: 1, type: 0 }] });
      continue;
    }
    const row_bytes = rowBytes(t);
    const per_part = Math.max(1, Math.floor(max_bytes / row_bytes));
    const parts = [];
    for (let r = 0; r < rows; r += per_part) {
      const n = Math.min(per_part, rows - r);
      const buffer = mappedStorage(device, `${t.name}[${r}:${r + n}]`, n * row_bytes);
      const range = new Uint8Array(buffer.getMappedRange());
      for await (const { at, bytes } of blobPieces(blob, t.offset + r * row_bytes, n * row_bytes)) range.set(bytes, at);
      buffer.unmap();
      parts.push({ buffer, rows: n, type: t.type });
    }
    handles.set(t.name, { name: t.name, type: t.type, rows, cols, parts });
  }
  return handles;
}

async function wholeBytes(blob, offset, n) {
  const out = new Uint8Array(n);
  for await (const { at, bytes } of blobPieces(blob, offset, n)) out.set(bytes, at);
  return out;
}

function mappedStorage(device, label, n_bytes) {
  return device.createBuffer({ label, size: Math.ceil(n_bytes / 4) * 4 + 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
}

function storage(device, label, bytes) {
  const buffer = mappedStorage(device, label, bytes.byteLength);
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

function vectorToF32(t, src) {
  if (t.type_name !== 'F16') throw new Error(`vector ${t.name} is ${t.type_name}; the WebGPU backend takes F32 or F16 vectors`);
  const h = new Uint16Array(src.slice().buffer);
  return Float32Array.from(h, halfToFloat);
}

function halfToFloat(h) {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

/** @implements {import('../../ops_contract.js').BackendOps} */
export class WebGPUOps {
  constructor(device, kernels, config, { n_ctx, n_batch }) {
    this.device = device;
    this.k = kernels;
    this.c = config;
    this.n_ctx = n_ctx;
    this.n_batch = n_batch;
    const c = config;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.cols = bufferColumns(c);
    this.buf = Object.fromEntries(Object.entries(this.cols).map(([name, cols]) => [name, device.createBuffer({ label: name, size: n_batch * cols * 4, usage })]));
    this.ids = device.createBuffer({ label: 'ids', size: n_batch * 4, usage });
    // An encoder's pass: its input rows, summed on the host, and each row's sequence [first, rows].
    this.host_x = c.encoder ? new Float32Array(n_batch * c.dim) : null;
    this.segments = device.createBuffer({ label: 'segments', size: c.encoder ? n_batch * 8 : 8, usage });
    const read = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    this.readback = { logits: device.createBuffer({ label: 'logits readback', size: Math.max(4, n_batch * c.vocab_size * 4), usage: read }),
      ids: device.createBuffer({ label: 'ids readback', size: n_batch * 4, usage: read }),
      rows: c.encoder ? device.createBuffer({ label: 'rows readback', size: n_batch * c.dim * 4, usage: read }) : null };
    const kv_bytes = c.n_kv_heads * n_ctx * c.head_dim * 4;
    this.kv = Array.from({ length: c.n_layers }, (_, l) => ({
      k: device.createBuffer({ label: `k cache ${l}`, size: kv_bytes, usage }),
      v: device.createBuffer({ label: `v cache ${l}`, size: kv_bytes, usage }),
    }));
    // Per step: the RoPE tables (n_batch rows of n_rot/2 cos/sin pairs each; one per distinct
    // (theta, scale) of the layers: Gemma 3's sliding layers have their own) head the uniform arena.
    const { tables, of_layer } = layerRopeTables(c);
    this.ropes = tables.map((t) => Object.assign(t, { offset: t.index * n_batch * c.n_rot }));
    this.rope_of_layer = of_layer;
    this.dispatcher = new Dispatcher(device, { n_slots: c.n_layers * OPS_PER_LAYER + 8,
      head_bytes: Math.max(1, this.ropes.length) * n_batch * c.n_rot * 4 });
    this.biases = new Map(); // concatenated q|k|v biases, by the key of their matmuls
    this.host_logits = new Float32Array(n_batch * c.vocab_size);
    this.pos0 = 0;
    this.forwards = 0;
    this.readback_bytes = 0;
    this.sampleLimits = SAMPLE_LIMITS;
  }

  /** Dispatches and submits so far, and per forward pass. */
  stats() {
    const { dispatches, submits, record_ms } = this.dispatcher.stats;
    return { forwards: this.forwards, dispatches, submits, readback_bytes: this.readback_bytes, record_ms };
  }

  embed(table, tokens, dst, scale = 1) {
    this.dispatcher.begin();
    this.forwards++;
    if (table.host) return this.#hostRows(table, tokens, dst, false);
    this.#run(this.k.matvec.embed({ key: `embed:${table.name}:${dst}`, parts: table.parts, n_cols: table.cols, tokens,
      out: this.buf[dst], out_stride: this.cols[dst], scale }));
  }

  /** An encoder's input: dst rows += rows `ids` of a host table (written before the next GPU op). */
  addRows(table, ids, dst) {
    if (!table.host) throw new Error(`${table.name} is not a host table`);
    this.#hostRows(table, ids, dst, true);
  }

  // Host-table rows into the pending input of dst (this.host_x): set, or added.
  #hostRows(table, ids, dst, add) {
    const d = table.cols;
    if (dst !== 'x' || d !== this.cols.x) throw new Error(`host rows of ${table.name} go to x (${this.cols.x} columns), not ${dst}`);
    if (ids.length > this.n_batch) throw new Error(`${ids.length} rows exceed the batch of ${this.n_batch}`);
    ids.forEach((id, t) => {
      if (!(Number.isInteger(id) && id >= 0 && id < table.rows)) throw new RangeError(`row ${id} is outside ${table.name}`);
      const row = table.host.subarray(id * d, (id + 1) * d);
      const out = this.host_x.subarray(t * d, (t + 1) * d);
      if (add) for (let i = 0; i < d; i++) out[i] += row[i];
      else out.set(row);
    });
    this.pending_rows = Math.max(add ? this.pending_rows : 0, ids.length);
  }

  // The pending host rows to the GPU, ahead of the pass's first dispatch.
  #flush() {
    if (!this.pending_rows) return;
    this.device.queue.writeBuffer(this.buf.x, 0, this.host_x, 0, this.pending_rows * this.cols.x);
    this.pending_rows = 0;
  }

  layernorm(src, weight, bias, dst, n) {
    if (src !== dst) throw new Error(`our WebGPU layernorm works in place, not from ${src} to ${dst}`);
    this.#run(this.k.layernorm.call({ key: `layernorm:${src}:${weight.name}`, x: this.buf[src], weight: weight.parts[0].buffer,
      bias: bias.parts[0].buffer, cols: this.cols[src], n, eps: this.c.norm_eps }));
  }

  matmulGelu(input, n, W, bias, dst) {
    this.#run(this.k.matvec.matvec({
      key: `gelu:${input}:${W.name}:${dst}`, parts: W.parts, n_cols: W.cols, n_tokens: n, x: this.buf[input],
      x_stride: this.cols[input], out: this.buf[dst], out_stride: this.cols[dst], mode: MODE.gelu,
      bias: this.#bias(W.name, [{ W, bias }]),
    }));
  }

  /** The first n rows of a buffer (an encoder's output), once the pass is done. */
  async rows(name, n) {
    const bytes = n * this.cols[name] * 4;
    this.dispatcher.submit((enc) => enc.copyBufferToBuffer(this.buf[name], 0, this.readback.rows, 0, bytes));
    let out = null;
    await this.#read(this.readback.rows, bytes, (range) => (out = new Float32Array(range.slice(0))));
    return out;
  }

  setPositions(pos0, n) {
    this.pos0 = pos0;
    const rows = n * this.c.n_rot;
    const head = this.dispatcher.head(this.ropes.length * this.n_batch * this.c.n_rot);
    for (const r of this.ropes) r.fill(head.subarray(r.offset, r.offset + rows), pos0, n);
  }

  rmsnormAdd(src, weight, dst, n) {
    if (this.cols[src] !== this.cols[dst]) throw new Error(`adding ${this.cols[src]} columns into ${dst}, which has ${this.cols[dst]}`);
    this.#run(this.k.rmsnorm.call({ key: `rmsnorm+:${src}:${weight.name}:${dst}`, src: this.buf[src], weight: weight.parts[0].buffer,
      dst: this.buf[dst], cols: this.cols[src], n, eps: this.c.rms_eps, accumulate: true }));
  }


  rmsnorm(src, weight, dst, n, from = 0) {
    this.#run(this.k.rmsnorm.call({ key: `rmsnorm:${src}:${weight.name}:${dst}`, src: this.buf[src], weight: weight.parts[0].buffer,
      dst: this.buf[dst], cols: this.cols[src], n, from, eps: this.c.rms_eps }));
  }

  matmuls(input, n, outs, dst, accumulate = false, cap = 0) {
    if (cap && accumulate) throw new Error('a soft-capped projection cannot accumulate');
    const parts = outs.flatMap(({ W }) => W.parts);
    const names = outs.map(({ W }) => W.name).join('|');
    const bias = outs.some((o) => o.bias) ? this.#bias(names, outs) : null;
    const cols = outs[0].W.cols;
    if (cols !== this.cols[input]) throw new Error(`${outs[0].W.name} takes ${cols} inputs, ${input} has ${this.cols[input]}`);
    // Up to MAX_PARTS parts per dispatch; a split vocabulary may need more than one.
    for (let p = 0, row = 0; p < parts.length; p += MAX_PARTS) {
      const chunk = parts.slice(p, p + MAX_PARTS);
      this.#run(this.k.matvec.matvec({
        key: `matvec:${input}:${names}#${p}:${dst}`, parts: chunk, n_cols: cols, n_tokens: n, x: this.buf[input],
        x_stride: this.cols[input], out: this.buf[dst], out_stride: this.cols[dst], out_offset: row,
        mode: accumulate ? MODE.accumulate : cap ? MODE.softcap : MODE.write, scalar: cap,
        bias: bias && p === 0 && parts.length <= MAX_PARTS ? bias : null,
      }));
      row += chunk.reduce((r, q) => r + q.rows, 0);
    }
    if (bias && parts.length > MAX_PARTS) throw new Error('biases on a projection split into more than 4 parts');
  }

  matmulGlu(input, n, w_gate, w_up, dst, act = 'silu') {
    const mode = { silu: MODE.swiglu, gelu: MODE.geglu }[act];
    if (mode === undefined) throw new Error(`gate activation ${act} is not one we run`);
    this.#run(this.k.matvec.matvec({
      key: `glu:${input}:${w_gate.name}:${dst}`, parts: [w_gate.parts[0], w_up.parts[0]], n_cols: w_gate.cols, n_tokens: n,
      x: this.buf[input], x_stride: this.cols[input], out: this.buf[dst], out_stride: this.cols[dst], mode,
    }));
  }

  ropeStore(l, n, norms = null) {
    this.#run(this.k.rope.call({ key: `rope:${l}`, c: this.c, qkv: this.buf.qkv, k_cache: this.kv[l].k, v_cache: this.kv[l].v,
      cs: { buffer: this.dispatcher.arena, offset: this.rope_of_layer[l].offset }, n_ctx: this.n_ctx, pos0: this.pos0, n,
      norms: norms && { q: norms.q.parts[0].buffer, k: norms.k.parts[0].buffer } }));
  }

  /** Causal; or, with segments ([first row, rows] each), within each packed sequence. */
  attention(l, n, segments = null) {
    if (segments && l === 0) {
      const per_row = new Uint32Array(2 * n);
      for (const [first, rows] of segments) for (let r = first; r < first + rows; r++) per_row.set([first, rows], 2 * r);
      this.device.queue.writeBuffer(this.segments, 0, per_row);
    }
    this.#run(this.k.attention.call({ key: `attention:${l}`, c: this.c, qkv: this.buf.qkv, k_cache: this.kv[l].k,
      v_cache: this.kv[l].v, out: this.buf.att, n_ctx: this.n_ctx, pos0: this.pos0, n,
      segments: segments ? this.segments : null, window: windowOf(this.c, l) }));
  }

  async logits(m) {
    const bytes = m * this.c.vocab_size * 4;
    this.dispatcher.submit((enc) => enc.copyBufferToBuffer(this.buf.logits, 0, this.readback.logits, 0, bytes));
    const out = this.host_logits.subarray(0, m * this.c.vocab_size);
    await this.#read(this.readback.logits, bytes, (range) => out.set(new Float32Array(range)));
    return out;
  }

  async argmax(m) {
    this.#run(this.k.argmax.call({ key: 'argmax', logits: this.buf.logits, ids: this.ids, n: this.c.vocab_size, m }));
    return this.#readIds(m);
  }

  async sample(m, plan) {
    if (m !== 1) throw new Error(`sampling on the GPU takes one row, not ${m}`);
    this.#run(this.k.sample.call({ key: 'sample', logits: this.buf.logits, ids: this.ids, n: this.c.vocab_size, plan }));
    return this.#readIds(1);
  }

  async #readIds(m) {
    this.dispatcher.submit((enc) => enc.copyBufferToBuffer(this.ids, 0, this.readback.ids, 0, m * 4));
    let ids = null;
    await this.#read(this.readback.ids, m * 4, (range) => (ids = new Int32Array(range.slice(0))));
    return ids;
  }

  #run(call) {
    this.#flush();
    this.dispatcher.dispatch(call);
  }

  async #read(buffer, bytes, take) {
    this.readback_bytes += bytes;
    try {
      await buffer.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (e) {
      // A lost device rejects the map; say so, so the engine falls back instead of failing.
      const lost = await Promise.race([this.device.lost.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
      throw Object.assign(new Error(`reading results from the GPU failed: ${e.message}`), { deviceLost: lost });
    }
    try {
      take(buffer.getMappedRange(0, bytes));
    } finally {
      buffer.unmap();
    }
  }

  /** The biases of outs, concatenated in one vector (zeros where a projection has none). */
  #bias(key, outs) {
    if (!this.biases.has(key)) {
      const rows = outs.reduce((n, { W }) => n + W.rows, 0);
      const buffer = this.device.createBuffer({ label: `bias ${key}`, size: rows * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      let at = 0;
      for (const { W, bias } of outs) {
        if (bias) {
          const enc = this.device.createCommandEncoder();
          enc.copyBufferToBuffer(bias.parts[0].buffer, 0, buffer, at * 4, W.rows * 4);
          this.device.queue.submit([enc.finish()]);
        }
        at += W.rows;
      }
      this.biases.set(key, buffer);
    }
    return this.biases.get(key);
  }
}
