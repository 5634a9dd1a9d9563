// An inverted-file (IVF) partition of the vector store's rows, for approximate search of large
// stores: spherical k-means puts every row in the list of its nearest centroid (by dot product),
// and a query scans only the rows of its `nprobe` nearest lists. Built in the page from the
// store's own vectors, on the scan's WASM runtime: every row-by-centroid score is one F32 mat-mul
// (the encoder's kernel), so 100k rows train and assign in seconds. Nothing of it is stored: it
// is rebuilt at the first search after a load, and again when the store has grown or shrunk 4x.

const ITERATIONS = 10;
const SAMPLE_PER_LIST = 40; // training rows per centroid (faiss warns below 39)
const CHUNK = 1024; // rows scored per mat-mul call

export class IvfPartition {
  /**
   * Train on n rows of vectors (Float32Array, n x d) and assign them.
   * @param {import('./backends/wasm/runtime.js').WasmRuntime} rt
   */
  constructor(rt, vectors, n, d, n_lists) {
    this.rt = rt;
    this.d = d;
    this.n_lists = n_lists;
    this.trained_n = n;
    this.centroids = rt.alloc(n_lists * d * 4);
    this.rows_in = rt.alloc(CHUNK * d * 4);
    this.scores = rt.alloc(CHUNK * n_lists * 4);
    this.q = rt.alloc(d * 4);
    this.assign = new Int32Array(0);
    this.#train(vectors, n);
    this.update(vectors, n, 0, n);
  }

  /** Lists nearest to q (Float32Array of d), nearest first: an Int32Array of nprobe list numbers. */
  nearest(q, nprobe) {
    const { rt, d } = this;
    rt.f32(this.q, d).set(q);
    rt.k.dot_rows(this.centroids, this.q, this.scores, this.n_lists, d);
    const s = rt.f32(this.scores, this.n_lists);
    return Int32Array.from([...s.keys()].sort((a, b) => s[b] - s[a] || a - b).slice(0, nprobe));
  }

  /** The row numbers in the given lists, one Int32Array. */
  rowsOf(lists) {
    let total = 0;
    for (const l of lists) total += this.lists[l].length;
    const out = new Int32Array(total);
    let at = 0;
    for (const l of lists) {
      out.set(this.lists[l], at);
      at += this.lists[l].length;
    }
    return out;
  }

  /** The store now has n rows; rows [lo, hi) changed (or were removed, past n): reassign them. */
  update(vectors, n, lo, hi) {
    if (this.assign.length < n) {
      const grown = new Int32Array(Math.max(n, this.assign.length * 2));
      grown.set(this.assign);
      this.assign = grown;
    }
    this.#assign(vectors, lo, Math.min(hi, n), this.assign);
    this.n = n;
    const counts = new Int32Array(this.n_lists);
    for (let s = 0; s < n; s++) counts[this.assign[s]]++;
    this.lists = Array.from(counts, (c) => new Int32Array(c));
    counts.fill(0);
    for (let s = 0; s < n; s++) {
      const l = this.assign[s];
      this.lists[l][counts[l]++] = s;
    }
  }

  /** Whether the store's size has moved so far from the trained one that the lists need retraining. */
  stale(n) {
    return n > 4 * this.trained_n || 4 * n < this.trained_n;
  }

  // Nearest centroid of rows [lo, hi) into out[row], CHUNK rows per mat-mul.
  #assign(vectors, lo, hi, out) {
    const { rt, d, n_lists } = this;
    for (let s = lo; s < hi; s += CHUNK) {
      const m = Math.min(CHUNK, hi - s);
      rt.f32(this.rows_in, m * d).set(vectors.subarray(s * d, (s + m) * d));
      this.#score(m);
      const scores = rt.f32(this.scores, m * n_lists);
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let l = 1; l < n_lists; l++) if (scores[i * n_lists + l] > scores[i * n_lists + best]) best = l;
        out[s + i] = best;
      }
    }
  }

  // scores[i * n_lists + l] = rows_in[i] . centroid[l] for m rows (F32 mat-mul, LAYOUT rows).
  #score(m) {
    const { rt, d, n_lists } = this;
    rt.k.matmul(0, 0, this.centroids, 0, this.rows_in, this.scores, d, 0, n_lists, m, n_lists, 14);
  }

  // Spherical k-means on an evenly spaced sample of the rows; an emptied list takes a sample row.
  #train(vectors, n) {
    const { rt, d, n_lists } = this;
    const n_sample = Math.min(n, n_lists * SAMPLE_PER_LIST);
    const sample = new Float32Array(n_sample * d);
    for (let i = 0; i < n_sample; i++) {
      const s = Math.floor((i * n) / n_sample);
      sample.set(vectors.subarray(s * d, (s + 1) * d), i * d);
    }
    const C = new Float32Array(n_lists * d);
    for (let l = 0; l < n_lists; l++) {
      const i = Math.floor(((l + 0.5) * n_sample) / n_lists);
      C.set(sample.subarray(i * d, (i + 1) * d), l * d);
    }
    const assign = new Int32Array(n_sample);
    for (let it = 0; it < ITERATIONS; it++) {
      rt.f32(this.centroids, n_lists * d).set(C);
      this.#assign(sample, 0, n_sample, assign);
      C.fill(0);
      const counts = new Int32Array(n_lists);
      for (let i = 0; i < n_sample; i++) {
        const l = assign[i];
        counts[l]++;
        for (let j = 0; j < d; j++) C[l * d + j] += sample[i * d + j];
      }
      for (let l = 0; l < n_lists; l++) {
        if (counts[l] === 0) {
          const i = (l * 7919 + it * 104729) % n_sample;
          C.set(sample.subarray(i * d, (i + 1) * d), l * d);
        }
        let norm = 0;
        for (let j = 0; j < d; j++) norm += C[l * d + j] ** 2;
        norm = Math.sqrt(norm) || 1;
        for (let j = 0; j < d; j++) C[l * d + j] /= norm;
      }
    }
    rt.f32(this.centroids, n_lists * d).set(C);
  }
}
