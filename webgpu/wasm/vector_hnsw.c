// The vector store's HNSW graph (Malkov & Yashunin, "Efficient and robust approximate nearest
// neighbor search using Hierarchical Navigable Small World graphs"), over the int8 rows of the
// scan's copy (vector_scan.c): similarity = scale_a * scale_b * (codes_a . codes_b), higher is
// nearer. Level 0 keeps up to M0 neighbours per row, levels 1..HNSW_LEVELS up to M. A row's level is
// a fixed function of its slot, chosen by the caller when the graph grows; re-linking a slot (its
// vector changed) replaces its own lists and adds it to its new neighbours', and lists that still
// point at a slot past n are skipped and dropped as they are next rewritten. Shrinking full lists
// can leave a row with no link into it, which no search would find: hnsw_repair links such rows
// back. The caller re-ranks the candidates this returns by their f32 vectors.
#include "quants.h"

#define HNSW_LEVELS 8   // upper levels a row can have; the caller caps its levels to this
#define HNSW_EF_MAX 2048 // the largest ef (candidate list) a search or a link takes
#define HNSW_D_MAX 4096  // the most dimensions a graph's rows can have

// The graph, as the caller lays it out in WASM memory (webgpu/vector_hnsw.js writes the same
// fields, in this order, as int32 values).
typedef struct {
  const int8_t *codes;    // n_capacity x d: the scan's int8 rows
  const float *scales;    // n_capacity: one scale per row
  int32_t d;              // dimensions, a multiple of 16
  int32_t n;              // rows in the graph: slots 0..n-1
  int32_t *links0;        // n_capacity x (1 + M0): count, then neighbour slots
  int32_t *upper;         // per row with a level >= 1: HNSW_LEVELS x (1 + M), level 1 first
  const int32_t *upper_of; // slot -> its block in upper (rows of level 0: unused)
  const int8_t *level;    // slot -> its top level
  uint32_t *visited;      // n_capacity: the search stamp that last reached each slot
  uint32_t stamp;
  int32_t entry;          // the slot searches start from (-1: empty graph), of the highest level
  int32_t max_level;
  int32_t M, M0;
  int32_t *queue;         // n_capacity: hnsw_repair's breadth-first queue
  int32_t *in_links;      // n_capacity: hnsw_repair's count of level-0 links into each row
} hnsw_graph;

typedef struct { float sim; int32_t slot; } scored;

// ---- similarity ------------------------------------------------------------------------------

// A query, the row being linked or a search's: |codes| and their signs apart, the form of the
// relaxed i8 x i7 dot (as vector_scan.c scores), which takes half the instructions of dot_i8_i8.
typedef struct { int8_t abs[HNSW_D_MAX], neg[HNSW_D_MAX]; float scale; } query;
static query the_query;

static const query *prepare(const int8_t *codes, float scale, int d) {
  for (int i = 0; i < d; i++) {
    the_query.abs[i] = (int8_t)(codes[i] < 0 ? -codes[i] : codes[i]);
    the_query.neg[i] = (int8_t)(codes[i] < 0 ? -1 : 0);
  }
  the_query.scale = scale;
  return &the_query;
}

static inline float sim_query(const hnsw_graph *g, const query *q, int32_t s) {
  const int8_t *x = g->codes + (size_t)s * g->d;
  v128_t acc = wasm_i32x4_splat(0);
  for (int i = 0; i < g->d; i += 16) {
    v128_t v = wasm_v128_load(x + i);
    acc = dot_u7_i8(acc, wasm_v128_load(q->abs + i), wasm_v128_bitselect(wasm_i8x16_neg(v), v, wasm_v128_load(q->neg + i)));
  }
  return q->scale * g->scales[s] * (float)hsum_i32x4(acc);
}

// Two stored rows (the neighbour heuristic's comparisons).
static inline float sim_rows(const hnsw_graph *g, int32_t a, int32_t b) {
  const int8_t *x = g->codes + (size_t)a * g->d, *y = g->codes + (size_t)b * g->d;
  v128_t acc = wasm_i32x4_splat(0);
  for (int i = 0; i < g->d; i += 16) acc = dot_i8_i8(acc, wasm_v128_load(x + i), wasm_v128_load(y + i));
  return g->scales[a] * g->scales[b] * (float)hsum_i32x4(acc);
}

static inline int32_t *links(const hnsw_graph *g, int32_t s, int lv) {
  if (lv == 0) return g->links0 + (size_t)s * (1 + g->M0);
  return g->upper + ((size_t)g->upper_of[s] * HNSW_LEVELS + (lv - 1)) * (1 + g->M);
}

// ---- heaps of (sim, slot) ----------------------------------------------------------------------
// `worst` heaps keep the lowest sim on top (the result list); `best` heaps the highest (candidates).

static inline int above(scored a, scored b, int best) { return best ? a.sim > b.sim : a.sim < b.sim; }

static void heap_push(scored *h, int *n, scored x, int best) {
  int i = (*n)++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!above(x, h[p], best)) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

static scored heap_pop(scored *h, int *n, int best) {
  scored top = h[0], x = h[--(*n)];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && above(h[c + 1], h[c], best)) c++;
    if (!above(h[c], x, best)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0) h[i] = x;
  return top;
}

// Scratch for one search or link at a time (a store's graph is used by one thread).
static scored candidates[HNSW_EF_MAX + 1], found[HNSW_EF_MAX + 1], seeds[HNSW_EF_MAX + 1], near[HNSW_EF_MAX + 1];

// The ef rows nearest q on level lv, from the entries in found[0..*n_found) (replaced by the
// result, a `worst` heap).
static void search_level(hnsw_graph *g, const query *q, int ef, int lv, int *n_found) {
  int n_cand = 0;
  g->stamp++;
  for (int i = 0; i < *n_found; i++) {
    g->visited[found[i].slot] = g->stamp;
    heap_push(candidates, &n_cand, found[i], 1);
  }
  int nf = 0, n_seeds = *n_found;
  for (int i = 0; i < n_seeds; i++) seeds[i] = found[i];
  for (int i = 0; i < n_seeds; i++) heap_push(found, &nf, seeds[i], 0);
  while (nf > ef) heap_pop(found, &nf, 0);
  while (n_cand > 0) {
    scored c = heap_pop(candidates, &n_cand, 1);
    if (nf >= ef && c.sim < found[0].sim) break;
    const int32_t *l = links(g, c.slot, lv);
    for (int j = 1; j <= l[0]; j++) {
      int32_t s = l[j];
      if (s >= g->n || g->visited[s] == g->stamp) continue;
      g->visited[s] = g->stamp;
      scored x = {sim_query(g, q, s), s};
      if (nf < ef || x.sim > found[0].sim) {
        heap_push(candidates, &n_cand, x, 1);
        heap_push(found, &nf, x, 0);
        if (nf > ef) heap_pop(found, &nf, 0);
      }
    }
  }
  *n_found = nf;
}

// Greedy descent from the entry to level `to` (exclusive): found[0] holds the nearest row seen.
static void descend(hnsw_graph *g, const query *q, int to) {
  scored at = {sim_query(g, q, g->entry), g->entry};
  for (int lv = g->max_level; lv > to; lv--) {
    for (int moved = 1; moved;) {
      moved = 0;
      const int32_t *l = links(g, at.slot, lv);
      for (int j = 1; j <= l[0]; j++) {
        if (l[j] >= g->n) continue;
        float s = sim_query(g, q, l[j]);
        if (s > at.sim) {
          at = (scored){s, l[j]};
          moved = 1;
        }
      }
    }
  }
  found[0] = at;
}

// A new entry where the old one left the graph (or is being re-linked, `except`): the
// highest-level other row still in it.
static void reenter(hnsw_graph *g, int32_t except) {
  g->entry = -1;
  g->max_level = -1;
  for (int32_t s = 0; s < g->n; s++) {
    if (s != except && g->level[s] > g->max_level) {
      g->max_level = g->level[s];
      g->entry = s;
    }
  }
}

// ---- linking -----------------------------------------------------------------------------------

static int by_sim_desc(scored a, scored b) { return a.sim > b.sim || (a.sim == b.sim && a.slot < b.slot); }

static void sort_desc(scored *a, int n) {
  for (int i = 1; i < n; i++) {
    scored x = a[i];
    int j = i;
    while (j > 0 && by_sim_desc(x, a[j - 1])) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

// The paper's neighbour heuristic: take candidates (sims to the base row, sorted nearest first)
// while each is nearer the base than to every one already taken; at most m; into out[1..], count
// in out[0].
static void select_neighbours(const hnsw_graph *g, const scored *cand, int n, int m, int32_t *out) {
  int k = 0;
  for (int i = 0; i < n && k < m; i++) {
    int keep = 1;
    for (int j = 1; j <= k && keep; j++) keep = sim_rows(g, cand[i].slot, out[j]) <= cand[i].sim;
    if (keep) out[++k] = cand[i].slot;
  }
  out[0] = k;
}

// Add x (at similarity sim) to row s's list on level lv, shrinking it by the heuristic when full.
static void add_link(hnsw_graph *g, int32_t s, int32_t x, int lv) {
  int32_t *l = links(g, s, lv);
  int m = lv == 0 ? g->M0 : g->M;
  int k = 0;
  scored cand[2 * 64 + 2];
  for (int j = 1; j <= l[0]; j++) {
    if (l[j] == x) return;
    if (l[j] < g->n) l[++k] = l[j];
  }
  l[0] = k;
  if (k < m) {
    l[++l[0]] = x;
    return;
  }
  for (int j = 1; j <= k; j++) cand[j - 1] = (scored){sim_rows(g, s, l[j]), l[j]};
  cand[k] = (scored){sim_rows(g, s, x), x};
  sort_desc(cand, k + 1);
  select_neighbours(g, cand, k + 1, m, l);
}

// (Re)link slots lo..hi-1 (< n) into the graph with candidate lists of ef_construction rows.
EXPORT(hnsw_link) void hnsw_link(hnsw_graph *g, int32_t lo, int32_t hi, int ef_construction) {
  if (ef_construction > HNSW_EF_MAX) ef_construction = HNSW_EF_MAX;
  if (g->entry >= g->n) reenter(g, -1);
  for (int32_t x = lo; x < hi; x++) {
    int top = g->level[x];
    for (int lv = 0; lv <= top; lv++) links(g, x, lv)[0] = 0;
    if (g->entry == x) reenter(g, x);
    if (g->entry < 0) {
      g->entry = x;
      g->max_level = top;
      continue;
    }
    const query *q = prepare(g->codes + (size_t)x * g->d, g->scales[x], g->d);
    int from = top < g->max_level ? top : g->max_level;
    descend(g, q, from);
    int n_found = 1;
    for (int lv = from; lv >= 0; lv--) {
      search_level(g, q, ef_construction, lv, &n_found);
      int n = 0;
      for (int i = 0; i < n_found; i++) {
        if (found[i].slot != x) near[n++] = found[i];
      }
      sort_desc(near, n);
      int32_t *l = links(g, x, lv);
      select_neighbours(g, near, n, lv == 0 ? g->M0 : g->M, l);
      for (int j = 1; j <= l[0]; j++) add_link(g, l[j], x, lv);
      // The next level down starts from this level's candidates.
      for (int i = 0; i < n; i++) found[i] = near[i];
      n_found = n > 0 ? n : 1;
      if (n == 0) found[0] = (scored){sim_query(g, q, g->entry), g->entry};
    }
    if (top > g->max_level || g->entry >= g->n) {
      g->max_level = top;
      g->entry = x;
    }
  }
}

// The ef rows nearest the int8 query (q_codes, q_scale) into out_slots/out_sims, nearest first; returns
// how many (fewer than ef only where the graph holds fewer rows).
EXPORT(hnsw_search) int hnsw_search(hnsw_graph *g, const int8_t *q_codes, float q_scale, int ef, int32_t *out_slots, float *out_sims) {
  if (ef > HNSW_EF_MAX) ef = HNSW_EF_MAX;
  if (g->entry >= g->n) reenter(g, -1);
  if (g->entry < 0) return 0;
  const query *q = prepare(q_codes, q_scale, g->d);
  descend(g, q, 0);
  int n_found = 1;
  search_level(g, q, ef, 0, &n_found);
  int n = n_found;
  for (int i = n - 1; i >= 0; i--) {
    scored x = heap_pop(found, &n_found, 0);
    out_slots[i] = x.slot;
    out_sims[i] = x.sim;
  }
  return n;
}

// Make every row reachable on level 0 from the entry: a breadth-first walk from it, and each row it
// misses is linked from a reached row of its own list: the nearest with room in its list, else the
// nearest (the entry, where none is reached), whose least similar link to a row with other links
// into it it then replaces. Such a row can still be cut off where its other links come from rows
// no path reaches: callers repeat until this returns 0. Returns how many rows it linked.
EXPORT(hnsw_repair) int hnsw_repair(hnsw_graph *g) {
  if (g->entry >= g->n) reenter(g, -1);
  if (g->entry < 0) return 0;
  uint32_t mark = ++g->stamp;
  int32_t *queue = g->queue;
  for (int32_t s = 0; s < g->n; s++) g->in_links[s] = 0;
  for (int32_t s = 0; s < g->n; s++) {
    const int32_t *l = links(g, s, 0);
    for (int j = 1; j <= l[0]; j++) {
      if (l[j] < g->n) g->in_links[l[j]]++;
    }
  }
  int head = 0, tail = 0, repaired = 0;
  g->visited[g->entry] = mark;
  queue[tail++] = g->entry;
  for (int32_t r = 0;;) {
    while (head < tail) {
      const int32_t *l = links(g, queue[head++], 0);
      for (int j = 1; j <= l[0]; j++) {
        if (l[j] < g->n && g->visited[l[j]] != mark) {
          g->visited[l[j]] = mark;
          queue[tail++] = l[j];
        }
      }
    }
    while (r < g->n && g->visited[r] == mark) r++;
    if (r >= g->n) break;
    const int32_t *own = links(g, r, 0);
    int32_t from = g->entry;
    float best = -__builtin_inff();
    int roomy = 0;
    for (int j = 1; j <= own[0]; j++) {
      if (own[j] >= g->n || g->visited[own[j]] != mark) continue;
      int room = links(g, own[j], 0)[0] < g->M0;
      float s = sim_rows(g, r, own[j]);
      if (room > roomy || (room == roomy && s > best)) {
        best = s;
        from = own[j];
        roomy = room;
      }
    }
    int32_t *l = links(g, from, 0);
    int k = 0, worst = 0;
    float worst_sim = __builtin_inff();
    for (int j = 1; j <= l[0]; j++) {
      if (l[j] >= g->n) continue;
      l[++k] = l[j];
      if (g->in_links[l[j]] < 2) continue;
      float s = sim_rows(g, from, l[j]);
      if (s < worst_sim) {
        worst_sim = s;
        worst = k;
      }
    }
    l[0] = k;
    if (k < g->M0) {
      l[++l[0]] = r;
    } else {
      if (worst == 0) worst = k;  // every target has no other link in: the last one then
      g->in_links[l[worst]]--;
      l[worst] = r;
    }
    g->in_links[r]++;
    repaired++;
    g->visited[r] = mark;
    queue[tail++] = r;
  }
  return repaired;
}
