// Uniform structs: a kernel module names its WGSL struct's fields in order, and this packs values at
// the offsets WGSL gives them (scalars 4 bytes, vec4 16-aligned, arrays of vec4).

// write(views, i, x): i is the field's index in 4-byte words. Scalars are stored directly: this runs
// for every field of every dispatch of every token, so it allocates nothing.
const TYPES = {
  u32: { size: 4, align: 4, write: (v, i, x) => (v.u32[i] = x) },
  f32: { size: 4, align: 4, write: (v, i, x) => (v.f32[i] = x) },
  'vec4<u32>': { size: 16, align: 16, write: (v, i, x) => v.u32.set(x, i) },
  'array<vec4<u32>, 16>': { size: 256, align: 16, write: (v, i, x) => v.u32.set(x, i) },
};

/** @param {[string, keyof TYPES][]} fields the WGSL struct's fields, in order */
export function uniformStruct(fields) {
  let offset = 0;
  let align = 4;
  const layout = fields.map(([name, type]) => {
    const t = TYPES[type];
    if (!t) throw new Error(`no uniform type ${type}`);
    offset = Math.ceil(offset / t.align) * t.align;
    align = Math.max(align, t.align);
    const field = { name, type: t, offset };
    offset += t.size;
    return field;
  });
  const size = Math.ceil(offset / 16) * 16;
  return {
    size,
    /** Write values (an object with every field) into views {u32, f32} at byte offset `at`. */
    write(views, at, values) {
      for (const { name, type, offset } of layout) {
        const x = values[name];
        if (x === undefined) throw new Error(`uniform field ${name} is missing`);
        type.write(views, (at + offset) / 4, x);
      }
    },
  };
}
