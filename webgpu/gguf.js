// GGUF reader: header, metadata and tensor infos from one or more gguf-split shards (Blobs).
// Every count, length and offset is checked against the bytes actually present before use;
// a malformed file raises GGUFError, never a crash, a hang or a huge allocation.

export class GGUFError extends Error {
  constructor(message) {
    super(message);
    this.name = 'GGUFError';
  }
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_STRING = 1 << 24; // 16 MiB: no metadata string is larger
const MAX_ARRAY = 1 << 24; // elements
const MAX_DIMS = 4;

// ggml type id -> [block elements, block bytes]; types we can size (and so check) at all.
export const GGML_TYPES = {
  0: ['F32', 1, 4], 1: ['F16', 1, 2], 2: ['Q4_0', 32, 18], 3: ['Q4_1', 32, 20], 6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24], 8: ['Q8_0', 32, 34], 9: ['Q8_1', 32, 36], 10: ['Q2_K', 256, 84], 11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144], 13: ['Q5_K', 256, 176], 14: ['Q6_K', 256, 210], 15: ['Q8_K', 256, 292],
  24: ['I8', 1, 1], 25: ['I16', 1, 2], 26: ['I32', 1, 4], 27: ['I64', 1, 8], 28: ['F64', 1, 8], 30: ['BF16', 1, 2],
};

/**
 * Parse the shards of one model. first_read: the bytes read first from each shard, grown 4x until
 * its header parses. @returns {Promise<{metadata: Map<string, any>, tensors: object[]}>}
 */
export async function readGGUF(blobs, { first_read = 4 << 20 } = {}) {
  const shards = [];
  for (const [i, blob] of blobs.entries()) shards.push(await readShard(blob, i, first_read));
  const first = shards[0];
  const count = first.metadata.get('split.count') ?? 1;
  if (count !== blobs.length) throw new GGUFError(`the model has ${count} shards, ${blobs.length} were given`);
  const tensors = [];
  const names = new Set();
  for (const [i, s] of shards.entries()) {
    if ((s.metadata.get('split.no') ?? 0) !== i) throw new GGUFError(`shard ${i + 1} says it is shard ${(s.metadata.get('split.no') ?? 0) + 1}`);
    for (const t of s.tensors) {
      if (names.has(t.name)) throw new GGUFError(`tensor ${t.name} appears twice`);
      names.add(t.name);
      tensors.push(t);
    }
  }
  const declared = first.metadata.get('split.tensors.count') ?? tensors.length;
  if (declared !== tensors.length) throw new GGUFError(`shards hold ${tensors.length} tensors but declare ${declared}`);
  return { metadata: first.metadata, tensors };
}

async function readShard(blob, shardIndex, first_read) {
  // The metadata is at the front; read a prefix and grow it until the header parses.
  for (let n = Math.min(blob.size, first_read); ; n = Math.min(blob.size, n * 4)) {
    const bytes = new Uint8Array(await blob.slice(0, n).arrayBuffer());
    try {
      return parseHeader(bytes, blob.size, shardIndex);
    } catch (e) {
      if (!(e instanceof NeedMore) || n === blob.size) throw e instanceof NeedMore ? new GGUFError(`shard ${shardIndex + 1} is truncated inside its header`) : e;
    }
  }
}

class NeedMore extends Error {}

/** Parse header, metadata and tensor infos from the first bytes of a shard of fileSize bytes. */
export function parseHeader(bytes, fileSize, shardIndex = 0) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  const need = (n) => {
    if (at + n > bytes.byteLength) {
      if (at + n > fileSize) throw new GGUFError(`shard ${shardIndex + 1}: field at byte ${at} runs past the end of the file`);
      throw new NeedMore();
    }
  };
  const u8 = () => (need(1), view.getUint8(at++));
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const u64 = () => {
    need(8);
    const lo = view.getUint32(at, true), hi = view.getUint32(at + 4, true);
    at += 8;
    if (hi > 0x1fffff) throw new GGUFError(`shard ${shardIndex + 1}: 64-bit value at byte ${at - 8} is too large`);
    return hi * 2 ** 32 + lo;
  };
  const str = () => {
    const n = u64();
    if (n > MAX_STRING) throw new GGUFError(`shard ${shardIndex + 1}: string of ${n} bytes at byte ${at}`);
    need(n);
    let s;
    try {
      s = decoder.decode(bytes.subarray(at, at + n));
    } catch {
      throw new GGUFError(`shard ${shardIndex + 1}: string at byte ${at} is not valid UTF-8`);
    }
    at += n;
    return s;
  };
  const scalar = {
    0: () => (need(1), view.getUint8(at++)), 1: () => (need(1), view.getInt8(at++)),
    2: () => (need(2), (at += 2), view.getUint16(at - 2, true)), 3: () => (need(2), (at += 2), view.getInt16(at - 2, true)),
    4: u32, 5: () => (need(4), (at += 4), view.getInt32(at - 4, true)),
    6: () => (need(4), (at += 4), view.getFloat32(at - 4, true)), 7: () => u8() !== 0, 8: str,
    10: u64, 11: () => (need(8), (at += 8), Number(view.getBigInt64(at - 8, true))),
    12: () => (need(8), (at += 8), view.getFloat64(at - 8, true)),
  };
  const value = (type, depth = 0) => {
    if (type === 9) {
      if (depth > 0) throw new GGUFError(`shard ${shardIndex + 1}: nested arrays are not supported`);
      const inner = u32();
      const n = u64();
      if (n > MAX_ARRAY) throw new GGUFError(`shard ${shardIndex + 1}: array of ${n} elements`);
      if (!(inner in scalar)) throw new GGUFError(`shard ${shardIndex + 1}: bad array element type ${inner}`);
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = value(inner, depth + 1);
      return out;
    }
    if (!(type in scalar)) throw new GGUFError(`shard ${shardIndex + 1}: bad metadata value type ${type}`);
    return scalar[type]();
  };

  if (fileSize < 24) throw new GGUFError(`shard ${shardIndex + 1} is ${fileSize} bytes, shorter than a GGUF header`);
  if (u32() !== MAGIC) throw new GGUFError(`shard ${shardIndex + 1} is not a GGUF file (bad magic)`);
  const version = u32();
  if (version !== 2 && version !== 3) throw new GGUFError(`shard ${shardIndex + 1}: GGUF version ${version} is not supported`);
  const n_tensors = u64();
  const n_kv = u64();
  if (n_tensors > fileSize / 8 || n_kv > fileSize / 8) {
    throw new GGUFError(`shard ${shardIndex + 1}: header declares ${n_tensors} tensors and ${n_kv} keys, more than the file can hold`);
  }
  const metadata = new Map();
  for (let i = 0; i < n_kv; i++) {
    const key = str();
    if (metadata.has(key)) throw new GGUFError(`shard ${shardIndex + 1}: duplicate key ${key}`);
    metadata.set(key, value(u32()));
  }
  const alignment = metadata.get('general.alignment') ?? 32;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment & (alignment - 1) || alignment > 1 << 20) {
    throw new GGUFError(`shard ${shardIndex + 1}: general.alignment ${alignment} is not a power of two`);
  }
  const infos = [];
  for (let i = 0; i < n_tensors; i++) {
    const name = str();
    const n_dims = u32();
    if (n_dims < 1 || n_dims > MAX_DIMS) throw new GGUFError(`shard ${shardIndex + 1}: tensor ${name} has ${n_dims} dimensions`);
    const dims = [];
    for (let d = 0; d < n_dims; d++) dims.push(u64());
    const type = u32();
    const offset = u64();
    infos.push({ name, dims, type, offset });
  }
  const data_start = Math.ceil(at / alignment) * alignment;
  const tensors = infos.map(({ name, dims, type, offset }) => {
    const info = GGML_TYPES[type];
    if (!info) throw new GGUFError(`tensor ${name} has unknown type ${type}`);
    const [type_name, block, block_bytes] = info;
    let n_elements = 1;
    for (const d of dims) {
      n_elements *= d;
      if (!Number.isSafeInteger(n_elements) || n_elements > fileSize * 2) throw new GGUFError(`tensor ${name} has impossible dimensions ${dims.join('x')}`);
    }
    if (dims[0] % block) throw new GGUFError(`tensor ${name}: row of ${dims[0]} is not a whole number of ${type_name} blocks`);
    const n_bytes = (n_elements / block) * block_bytes;
    const start = data_start + offset;
    if (offset % alignment) throw new GGUFError(`tensor ${name}: data offset ${offset} is not a multiple of general.alignment ${alignment}`);
    if (start + n_bytes > fileSize) {
      throw new GGUFError(`tensor ${name} (bytes ${start}..${start + n_bytes}) lies outside the ${fileSize}-byte shard ${shardIndex + 1}`);
    }
    return { name, dims, type, type_name, n_elements, n_bytes, shard: shardIndex, offset: start };
  });
  return { version, metadata, tensors };
}
