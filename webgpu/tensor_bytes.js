// A tensor's bytes read from its shard Blob in pieces, so a tensor of any size goes into a backend's
// memory without a second whole copy of it (or of its shard) in JS.

export const PIECE_BYTES = 16 * 1024 * 1024;

/**
 * Bytes [offset, offset + n) of a Blob, PIECE_BYTES (or `piece`) at a time: yields
 * {at, bytes: Uint8Array} with `at` counted from offset. piece: a multiple of what the caller
 * needs whole (e.g. groups of rows).
 */
export async function* blobPieces(blob, offset, n, piece = PIECE_BYTES) {
  if (!(piece > 0)) throw new Error(`piece size ${piece}`);
  if (offset + n > blob.size) throw new Error(`bytes ${offset}..${offset + n} lie past the shard's ${blob.size}`);
  for (let at = 0; at < n; at += piece) {
    const end = Math.min(n, at + piece);
    yield { at, bytes: new Uint8Array(await blob.slice(offset + at, offset + end).arrayBuffer()) };
  }
}
