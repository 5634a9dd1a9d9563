// Sampling the next token from logits: penalties, then temperature, top-k, top-p and min-p.
// Temperature 0 is greedy. A seed makes a run repeatable.

/** Mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Sampler {
  /**
   * @param {{temperature?: number, top_k?: number, top_p?: number, min_p?: number,
   *          repetition_penalty?: number, presence_penalty?: number, frequency_penalty?: number,
   *          penalty_last_n?: number, seed?: number}} params
   */
  constructor(params = {}) {
    this.temperature = params.temperature ?? 0.7;
    this.top_k = params.top_k ?? 40;
    this.top_p = params.top_p ?? 0.95;
    this.min_p = params.min_p ?? 0.05;
    this.repetition_penalty = params.repetition_penalty ?? 1.0;
    this.presence_penalty = params.presence_penalty ?? 0.0;
    this.frequency_penalty = params.frequency_penalty ?? 0.0;
    this.penalty_last_n = params.penalty_last_n ?? 64;
    this.random = seededRandom(params.seed ?? (Math.random() * 2 ** 32) >>> 0);
  }

  /** Temperature 0 without penalties: the arg-max of the logits, nothing else. */
  get isGreedy() {
    return this.temperature <= 0 && !this.#penalized;
  }

  get #penalized() {
    return this.repetition_penalty !== 1 || this.presence_penalty !== 0 || this.frequency_penalty !== 0;
  }

  /** Pick a token id. logits: Float32Array (modified in place); history: ids so far. */
  sample(logits, history = []) {
    this.applyPenalties(logits, history);
    if (this.temperature <= 0) return argmax(logits);
    const k = this.top_k > 0 ? Math.min(this.top_k, logits.length) : logits.length;
    const ids = topK(logits, k);
    const inv_t = 1 / this.temperature;
    const top = logits[ids[0]];
    let probs = ids.map((i) => Math.exp((logits[i] - top) * inv_t));
    let sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
    // min-p: drop tokens less likely than min_p times the best one.
    let n = probs.length;
    if (this.min_p > 0) while (n > 1 && probs[n - 1] < this.min_p * probs[0]) n--;
    // top-p: the smallest prefix whose mass reaches top_p.
    if (this.top_p < 1) {
      let mass = 0;
      for (let i = 0; i < n; i++) {
        mass += probs[i];
        if (mass >= this.top_p) {
          n = i + 1;
          break;
        }
      }
    }
    sum = 0;
    for (let i = 0; i < n; i++) sum += probs[i];
    let r = this.random() * sum;
    for (let i = 0; i < n; i++) {
      r -= probs[i];
      if (r <= 0) return ids[i];
    }
    return ids[n - 1];
  }

  /**
   * This step as a device runs it (webgpu/backends/webgpu/sample.wgsl): the same penalties, top-k,
   * temperature, min-p and top-p, and the one uniform draw this step takes on the CPU. null when
   * the device cannot take it (no top-k, or more candidates or penalized tokens than `limits`
   * allow): then the CPU samples the whole row.
   * @param {{max_k: number, max_penalized: number, max_count: number}} limits
   */
  devicePlan(history, vocab_size, limits) {
    const greedy = this.temperature <= 0;
    const k = greedy ? 1 : this.top_k > 0 ? Math.min(this.top_k, vocab_size) : vocab_size;
    if (k > limits.max_k) return null;
    const counts = this.#penalized ? this.#recentCounts(history) : new Map();
    if (counts.size > limits.max_penalized || Math.max(0, ...counts.values()) > limits.max_count) return null;
    return {
      k, r: greedy ? 0 : this.random(), inv_temperature: greedy ? 0 : 1 / this.temperature, top_p: this.top_p, min_p: this.min_p,
      penalties: { ids: [...counts.keys()], counts: [...counts.values()], repetition: this.repetition_penalty,
        frequency: this.frequency_penalty, presence: this.presence_penalty },
    };
  }

  // The last penalty_last_n tokens counted (llama.cpp's meaning: 0 is none, -1 the whole history).
  #recentCounts(history) {
    const counts = new Map();
    const n = this.penalty_last_n;
    if (n === 0) return counts;
    for (const id of n < 0 ? history : history.slice(-n)) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  applyPenalties(logits, history) {
    if (!this.#penalized) return;
    for (const [id, count] of this.#recentCounts(history)) {
      let l = logits[id];
      if (this.repetition_penalty !== 1) l = l > 0 ? l / this.repetition_penalty : l * this.repetition_penalty;
      l -= count * this.frequency_penalty + this.presence_penalty;
      logits[id] = l;
    }
  }
}

export function argmax(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

// Indices of the k largest values, largest first; of equal values, the lower id first (as on the GPU).
function topK(logits, k) {
  if (k >= logits.length) return Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  // A min-heap of [value, id] by worse-first: a lower value, or an equal value with a higher id.
  const worse = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] > b[1]);
  const heap = [];
  const push = (v, id) => {
    heap.push([v, id]);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worse(heap[i], heap[p])) break;
      [heap[p], heap[i]] = [heap[i], heap[p]];
      i = p;
    }
  };
  const replaceTop = (v, id) => {
    heap[0] = [v, id];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
  };
  // Ids come in increasing order, so a value equal to the worst kept one never displaces it.
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (heap.length < k) push(v, i);
    else if (v > heap[0][0]) replaceTop(v, i);
  }
  return heap.sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, id]) => id);
}
