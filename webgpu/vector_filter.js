// Metadata filters of the vector store, in the shape Zvec and Mongo use:
//   {lang: 'en'}                       equality
//   {year: {$gt: 2020, $lte: 2024}}    comparisons ($eq, $ne, $gt, $gte, $lt, $lte)
//   {tag: {$in: ['a', 'b']}}           membership ($in, $nin)
//   {$and: [f, g]}, {$or: [f, g]}      combinations
// compileFilter checks a filter once (unknown fields and operators are errors that say what to do)
// and returns a predicate over a record's metadata.

const COMPARE = {
  $eq: (a, b) => a === b,
  $ne: (a, b) => a !== b,
  $gt: (a, b) => a !== undefined && a > b,
  $gte: (a, b) => a !== undefined && a >= b,
  $lt: (a, b) => a !== undefined && a < b,
  $lte: (a, b) => a !== undefined && a <= b,
  $in: (a, b) => b.includes(a),
  $nin: (a, b) => !b.includes(a),
};

export class FilterError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FilterError';
  }
}

/**
 * @param {object|null|undefined} filter
 * @param {Set<string>} fields the metadata fields the store holds
 * @returns {(metadata: object) => boolean}
 */
export function compileFilter(filter, fields) {
  if (filter === null || filter === undefined) return () => true;
  if (typeof filter !== 'object' || Array.isArray(filter)) throw new FilterError('a filter is an object such as {lang: "en"}');
  const parts = Object.entries(filter).map(([key, cond]) => {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(cond) || cond.length === 0) throw new FilterError(`${key} takes a non-empty array of filters`);
      const subs = cond.map((f) => compileFilter(f, fields));
      return key === '$and' ? (m) => subs.every((p) => p(m)) : (m) => subs.some((p) => p(m));
    }
    if (key.startsWith('$')) throw new FilterError(`unknown filter operator ${key}; use $and or $or to combine filters`);
    if (!fields.has(key)) {
      const known = [...fields].sort().join(', ') || 'none yet';
      throw new FilterError(`no record has a metadata field "${key}" (fields: ${known})`);
    }
    return fieldPredicate(key, cond);
  });
  return (m) => parts.every((p) => p(m));
}

function fieldPredicate(key, cond) {
  if (cond === null || typeof cond !== 'object' || Array.isArray(cond)) return (m) => m?.[key] === cond;
  const tests = Object.entries(cond).map(([op, value]) => {
    const compare = COMPARE[op];
    if (!compare) throw new FilterError(`unknown operator ${op} on "${key}"; use ${Object.keys(COMPARE).join(', ')}`);
    if ((op === '$in' || op === '$nin') && !Array.isArray(value)) throw new FilterError(`${op} on "${key}" takes an array`);
    return (m) => compare(m?.[key], value);
  });
  return (m) => tests.every((t) => t(m));
}
