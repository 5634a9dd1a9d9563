// Records one forward pass as one compute pass and one submit. Each dispatch of the schedule has a
// slot in one uniform arena; its bind group is built the first time that dispatch is seen and kept
// (the schedule is the same every step; a prefill and a decode step may use other pipelines at the
// same slot, so a slot keeps one bind group per call key). Per step the host writes the arena once
// (a data head such as the RoPE table, then every slot's values) with a single writeBuffer.

const ALIGN = 256; // minUniformBufferOffsetAlignment's largest allowed value
const align = (n) => Math.ceil(n / ALIGN) * ALIGN;
const SLOT = 2 * ALIGN; // bytes of uniforms per dispatch

export class Dispatcher {
  /**
   * @param {GPUDevice} device
   * @param {{n_slots: number, head_bytes: number}} size dispatches per forward, bytes of the data head
   */
  constructor(device, { n_slots, head_bytes }) {
    this.device = device;
    this.n_slots = n_slots;
    this.head_bytes = align(head_bytes);
    // Every slot takes the largest struct: sample's (352 bytes, with 64 penalized tokens), since
    // a slot's kernel can change between steps (arg-max or sampling, prefill or decode).
    const bytes = this.head_bytes + n_slots * SLOT;
    this.arena = device.createBuffer({ label: 'uniform arena', size: bytes,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.mirror = new ArrayBuffer(bytes);
    this.views = { u32: new Uint32Array(this.mirror), f32: new Float32Array(this.mirror) };
    this.slots = []; // per dispatch index: {offset, bind_groups: Map(key -> GPUBindGroup)}
    this.encoder = null;
    this.pass = null;
    this.n = 0;
    this.stats = { dispatches: 0, submits: 0, writes: 0, record_ms: 0 }; // record_ms: host time from begin to submit
    this.t_begin = 0;
  }

  /** The data head as floats (valid until the next forward); bind it as {buffer: arena}. */
  head(n_floats) {
    return new Float32Array(this.mirror, 0, n_floats);
  }

  begin() {
    if (this.encoder) throw new Error('a forward pass is already being recorded');
    this.t_begin = performance.now();
    this.encoder = this.device.createCommandEncoder();
    this.pass = this.encoder.beginComputePass();
    this.n = 0;
  }

  /**
   * Record one dispatch.
   * @param {{key: string, pipeline: GPUComputePipeline, params: object, struct: object,
   *          bindings: [number, GPUBufferBinding|GPUBuffer][], groups: number[]}} call
   *   bindings: [@binding number, buffer] pairs (binding 0 is the call's uniform slot).
   */
  dispatch({ key, pipeline, params, struct, bindings, groups }) {
    const i = this.n++;
    if (i >= this.n_slots) throw new Error(`the schedule needs more than ${this.n_slots} dispatches per step`);
    if (struct.size > SLOT) throw new Error(`dispatch ${i} (${key}) has a ${struct.size}-byte uniform struct; slots hold ${SLOT}`);
    const slot = (this.slots[i] ??= { offset: this.head_bytes + i * SLOT, bind_groups: new Map() });
    let bind_group = slot.bind_groups.get(key);
    if (!bind_group) {
      const entries = [{ binding: 0, resource: { buffer: this.arena, offset: slot.offset, size: struct.size } }];
      for (const [binding, b] of bindings) entries.push({ binding, resource: b.buffer ? b : { buffer: b } });
      bind_group = this.device.createBindGroup({ label: key, layout: pipeline.getBindGroupLayout(0), entries });
      slot.bind_groups.set(key, bind_group);
    }
    struct.write(this.views, slot.offset, params);
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bind_group);
    this.pass.dispatchWorkgroups(...groups);
    this.stats.dispatches++;
  }

  /** End the pass, add copies (encoder => void), write the arena and submit. */
  submit(copies = () => {}) {
    this.pass.end();
    copies(this.encoder);
    const used = this.head_bytes + this.n * SLOT;
    this.device.queue.writeBuffer(this.arena, 0, this.mirror, 0, used);
    this.device.queue.submit([this.encoder.finish()]);
    this.stats.submits++;
    this.stats.writes++;
    this.stats.record_ms += performance.now() - this.t_begin;
    this.encoder = null;
    this.pass = null;
  }
}

/** Workgroup counts for n groups in x, folded into z where x would pass the device's limit. */
export function spread(n, y, limit) {
  if (n <= limit) return [n, y, 1];
  const z = Math.ceil(n / limit);
  return [Math.ceil(n / z), y, z];
}
