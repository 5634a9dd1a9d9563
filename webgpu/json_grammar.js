// JSON Schema to a byte grammar (webgpu/grammar.js), for constrained decoding: every sentence of
// the grammar is JSON that validates against the schema.
//
// Supported: type (one or a list), properties + required (properties in schema order, optional ones
// may be left out; no others are written), additionalProperties (a schema for the values of an
// object without properties), items, prefixItems, minItems, maxItems, enum, const, anyOf, allOf of
// one schema, $ref to #, #/$defs/... and #/definitions/... (recursion included), minLength,
// maxLength, pattern (webgpu/regex_grammar.js), format date, time, date-time and uuid, and
// minimum/maximum (exclusive too) on integers. On numbers, only minimum 0.
// Anything else that constrains a value is refused with UnsupportedSchemaError, which names the
// keyword and where it is: a grammar that ignored it could emit JSON the schema rejects.
// Annotations (title, description, default, examples, ...) are read past.

import { UnsupportedSchemaError } from './errors.js';
import { GrammarBuilder } from './grammar.js';
import { stringChars, patternElements } from './regex_grammar.js';

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$id', '$comment', 'deprecated',
  'readOnly', 'writeOnly', '$defs', 'definitions', 'strict', 'nullable', 'discriminator']);
const KEYWORDS = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'prefixItems', 'minItems',
  'maxItems', 'enum', 'const', 'anyOf', 'allOf', '$ref', 'minLength', 'maxLength', 'pattern', 'format', 'minimum',
  'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
const FORMATS = {
  date: '\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])',
  time: '([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,6})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)',
  'date-time': '\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,6})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)',
  uuid: '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
};
// Bounds that keep a small model from running on forever inside one value.
const MAX_INT_DIGITS = 16;
const MAX_FRACTION_DIGITS = 16;
const MAX_REPEAT = 1000;

/** A grammar for JSON that validates against schema (JSON Schema, draft 2020-12's vocabulary). */
export function jsonSchemaGrammar(schema) {
  const json = new JsonGrammar(schema);
  return json.b.build(json.root);
}

/** A grammar for any JSON object (OpenAI's response_format {type: 'json_object'}). */
export function jsonObjectGrammar() {
  return jsonSchemaGrammar({ type: 'object' });
}

/** Builds the grammar of several schemas at once, sharing JSON's own rules (tool calls). */
export class JsonGrammar {
  constructor(root_schema, b = new GrammarBuilder()) {
    this.b = b;
    this.root_schema = root_schema;
    this.refs = new Map();
    const lit = (t) => b.literal(t);
    // "" | " " | "\n" [ \t]{0,20}: room to lay JSON out, never a run of blank lines.
    this.ws = b.rule([[], lit(' '), [...lit('\n'), ...b.repeat([b.bytes(32, 32, 9, 9)], 0, 20)]]);
    this.char = stringChars(b).any;
    this.digit = b.bytes(48, 57);
    const digits = (min, max) => b.repeat([this.digit], min, max);
    this.natural = b.rule([lit('0'), [b.bytes(49, 57), ...digits(0, MAX_INT_DIGITS - 1)]]);
    this.minus = b.optional(lit('-'));
    const fraction = b.optional([...lit('.'), ...digits(1, MAX_FRACTION_DIGITS)]);
    const exponent = b.optional([b.bytes(69, 69, 101, 101), b.optional([b.bytes(43, 43, 45, 45)]), ...digits(1, 3)]);
    this.unsigned_number = [this.natural, fraction, exponent];
    this.string = b.rule([[...lit('"'), ...b.repeat([this.char], 0, Infinity), ...lit('"')]]);
    this.value = b.reserve();
    this.any();
    this.root = root_schema === undefined ? null : this.schema(root_schema, '#');
  }

  /** Element for another root schema (its $refs resolve inside it), sharing JSON's rules. */
  rootElement(schema, path) {
    this.root_schema = schema;
    this.refs = new Map();
    return this.schema(schema, path);
  }

  /** Element for a schema. path: where it is, for error messages. */
  schema(s, path) {
    const { b } = this;
    if (s === true || (s && typeof s === 'object' && Object.keys(s).every((k) => ANNOTATIONS.has(k)))) return this.any();
    if (s === false) throw new UnsupportedSchemaError(`${path} is false: no value can match it.`);
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new UnsupportedSchemaError(`${path} must be a schema object, not ${JSON.stringify(s)}.`);
    for (const k of Object.keys(s)) {
      if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) throw new UnsupportedSchemaError(`${path}: the keyword "${k}" is not supported in constrained output.`);
    }
    if (s.$ref !== undefined) {
      if (Object.keys(s).some((k) => KEYWORDS.has(k) && k !== '$ref')) throw new UnsupportedSchemaError(`${path}: $ref beside other keywords is not supported; put them in the referenced schema.`);
      return this.ref(s.$ref, path);
    }
    if (s.const !== undefined) return b.rule([b.literal(JSON.stringify(s.const))]);
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new UnsupportedSchemaError(`${path}: enum must be a non-empty array.`);
      return b.rule(s.enum.map((v) => b.literal(JSON.stringify(v))));
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) throw new UnsupportedSchemaError(`${path}: anyOf must be a non-empty array.`);
      const rest = { ...s };
      delete rest.anyOf;
      const extra = Object.keys(rest).some((k) => KEYWORDS.has(k));
      // Keywords beside anyOf apply to every branch.
      return b.rule(s.anyOf.map((branch, i) => [this.schema(extra ? mergeInto(rest, branch, `${path}/anyOf/${i}`) : branch, `${path}/anyOf/${i}`)]));
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) throw new UnsupportedSchemaError(`${path}: allOf is supported with exactly one schema.`);
      const rest = { ...s };
      delete rest.allOf;
      return this.schema(mergeInto(rest, this.resolve(s.allOf[0], `${path}/allOf/0`), `${path}/allOf/0`), path);
    }
    let type = s.type;
    if (type === undefined) type = inferType(s);
    if (Array.isArray(type)) return b.rule(type.map((t) => [this.typed(t, s, path)]));
    return this.typed(type, s, path);
  }

  typed(type, s, path) {
    const { b } = this;
    const lit = (t) => b.literal(t);
    const only = (allowed) => {
      for (const k of Object.keys(s)) {
        if (KEYWORDS.has(k) && k !== 'type' && !allowed.includes(k)) {
          throw new UnsupportedSchemaError(`${path}: "${k}" does not apply to type ${type}.`);
        }
      }
    };
    switch (type) {
      case undefined:
        return this.any();
      case 'null':
        return b.rule([lit('null')]);
      case 'boolean':
        return b.rule([lit('true'), lit('false')]);
      case 'integer':
        only(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
        return this.integer(s, path);
      case 'number': {
        only(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
        const bounds = ['maximum', 'exclusiveMinimum', 'exclusiveMaximum'].filter((k) => s[k] !== undefined);
        if (bounds.length || (s.minimum !== undefined && s.minimum !== 0)) {
          throw new UnsupportedSchemaError(`${path}: bounds on type number are not supported (minimum 0 is); use type integer, or check the value after.`);
        }
        return b.rule([[...(s.minimum === 0 ? [] : [this.minus]), ...this.unsigned_number]]);
      }
      case 'string':
        only(['minLength', 'maxLength', 'pattern', 'format']);
        return this.stringOf(s, path);
      case 'array':
        only(['items', 'prefixItems', 'minItems', 'maxItems']);
        return this.array(s, path);
      case 'object':
        only(['properties', 'required', 'additionalProperties']);
        return this.object(s, path);
      default:
        throw new UnsupportedSchemaError(`${path}: unknown type ${JSON.stringify(type)}.`);
    }
  }

  // Any JSON value: the rule is defined once, on first use.
  any() {
    const { b } = this;
    if (b.rules[this.value] === null) {
      const lit = (t) => b.literal(t);
      const value = -1 - this.value;
      const object = this.#freeObject(value);
      const array = [...lit('['), this.ws, b.optional([value, ...b.repeat([this.ws, ...lit(','), this.ws, value], 0, Infinity), this.ws]), ...lit(']')];
      b.define(this.value, [object, array, [this.string], [this.minus, ...this.unsigned_number], lit('true'), lit('false'), lit('null')]);
    }
    return -1 - this.value;
  }

  // { "any key": value, ... } as a sequence: an object whose keys are free.
  #freeObject(value) {
    const { b } = this;
    const lit = (t) => b.literal(t);
    const member = [this.string, this.ws, ...lit(':'), this.ws, value];
    return [...lit('{'), this.ws, b.optional([...member, ...b.repeat([this.ws, ...lit(','), this.ws, ...member], 0, Infinity), this.ws]), ...lit('}')];
  }

  ref(ref, path) {
    let r = this.refs.get(ref);
    if (r === undefined) {
      r = this.b.reserve();
      this.refs.set(ref, r);
      this.b.define(r, [[this.schema(this.lookup(ref, path), ref)]]);
    }
    return -1 - r;
  }

  resolve(s, path) {
    return s && typeof s === 'object' && s.$ref !== undefined ? this.resolve(this.lookup(s.$ref, path), s.$ref) : s;
  }

  lookup(ref, path) {
    if (typeof ref !== 'string' || !ref.startsWith('#')) throw new UnsupportedSchemaError(`${path}: only local $ref (#, #/$defs/...) are supported, not ${JSON.stringify(ref)}.`);
    let node = this.root_schema;
    for (const part of ref.slice(1).split('/').filter(Boolean)) {
      node = node?.[decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')];
    }
    if (node === undefined) throw new UnsupportedSchemaError(`${path}: $ref ${ref} points at nothing.`);
    return node;
  }

  stringOf(s, path) {
    const { b } = this;
    const q = b.literal('"');
    if (s.format !== undefined || s.pattern !== undefined) {
      if (s.format !== undefined && s.pattern !== undefined) throw new UnsupportedSchemaError(`${path}: format and pattern together are not supported.`);
      if (s.minLength !== undefined || s.maxLength !== undefined) throw new UnsupportedSchemaError(`${path}: minLength or maxLength beside ${s.format ? 'format' : 'pattern'} is not supported.`);
      let pattern = s.pattern;
      if (s.format !== undefined) {
        pattern = FORMATS[s.format];
        if (!pattern) throw new UnsupportedSchemaError(`${path}: format "${s.format}" is not supported (supported: ${Object.keys(FORMATS).join(', ')}).`);
      }
      return b.rule([[...q, ...patternElements(b, pattern, path), ...q]]);
    }
    const min = count(s.minLength, 0, `${path}/minLength`);
    const max = s.maxLength === undefined ? Infinity : count(s.maxLength, 0, `${path}/maxLength`);
    if (max < min) throw new UnsupportedSchemaError(`${path}: maxLength is less than minLength.`);
    return b.rule([[...q, ...b.repeat([this.char], min, max), ...q]]);
  }

  array(s, path) {
    const { b } = this;
    const lit = (t) => b.literal(t);
    const prefix = (s.prefixItems ?? []).map((p, i) => this.schema(p, `${path}/prefixItems/${i}`));
    const item = s.items === false ? null : this.schema(s.items ?? true, `${path}/items`);
    const min = count(s.minItems, 0, `${path}/minItems`);
    const max = s.maxItems === undefined ? (item === null ? prefix.length : Infinity) : count(s.maxItems, 0, `${path}/maxItems`);
    if (max < min) throw new UnsupportedSchemaError(`${path}: maxItems is less than minItems.`);
    if (item === null && min > prefix.length) throw new UnsupportedSchemaError(`${path}: minItems is more than prefixItems allow.`);
    const sep = [this.ws, ...lit(','), this.ws];
    // Elements i >= k in order: the prefix's schemas, then items.
    const at = (i) => (i < prefix.length ? prefix[i] : item);
    const tail = (k) => {
      // Elements k.. (each after a comma), at least min - k more and at most max - k.
      if (k >= max) return [];
      if (k >= prefix.length) {
        if (item === null) return [];
        return b.repeat([...sep, item], Math.max(0, min - k), max - k);
      }
      const rest = [...sep, at(k), ...tail(k + 1)];
      return k < min ? rest : [b.optional(rest)];
    };
    const body = max === 0 ? [] : [at(0), ...tail(1)];
    const inner = min === 0 && body.length ? [b.optional([...body, this.ws])] : [...body, this.ws];
    return b.rule([[...lit('['), this.ws, ...inner, ...lit(']')]]);
  }

  object(s, path) {
    const { b } = this;
    const lit = (t) => b.literal(t);
    const props = Object.entries(s.properties ?? {});
    const required = new Set(s.required ?? []);
    for (const name of required) {
      if (!props.some(([k]) => k === name)) throw new UnsupportedSchemaError(`${path}: required property "${name}" has no schema in properties.`);
    }
    if (props.length === 0) {
      // Free keys: values of additionalProperties' schema, or any JSON.
      const extra = s.additionalProperties === false ? null : this.schema(s.additionalProperties ?? true, `${path}/additionalProperties`);
      if (extra === null) return b.rule([[...lit('{'), this.ws, ...lit('}')]]);
      return b.rule([this.#freeObject(extra)]);
    }
    const member = props.map(([k, v]) => [...lit(JSON.stringify(k)), this.ws, ...lit(':'), this.ws, this.schema(v, `${path}/properties/${k}`)]);
    const isReq = props.map(([k]) => required.has(k));
    // after[j]: what may follow property j: a comma and a later property k (none required between
    // them), or the end when no required property is left.
    const after = new Array(props.length);
    for (let j = props.length - 1; j >= 0; j--) {
      const alts = [];
      for (let k = j + 1; k < props.length; k++) {
        alts.push([this.ws, ...lit(','), this.ws, ...member[k], after[k]]);
        if (isReq[k]) break;
      }
      if (!isReq.slice(j + 1).some(Boolean)) alts.push([]);
      after[j] = b.rule(alts);
    }
    const first = [];
    for (let k = 0; k < props.length; k++) {
      first.push([...member[k], after[k], this.ws]);
      if (isReq[k]) break;
    }
    if (!isReq.some(Boolean)) first.push([]);
    return b.rule([[...lit('{'), this.ws, b.rule(first), ...lit('}')]]);
  }

  integer(s, path) {
    const { b } = this;
    const bound = (k) => {
      const v = s[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new UnsupportedSchemaError(`${path}: ${k} must be a number.`);
      return v;
    };
    let lo = -Infinity;
    let hi = Infinity;
    if (bound('minimum') !== undefined) lo = Math.ceil(s.minimum);
    if (bound('exclusiveMinimum') !== undefined) lo = Math.max(lo, Math.floor(s.exclusiveMinimum) + 1);
    if (bound('maximum') !== undefined) hi = Math.floor(s.maximum);
    if (bound('exclusiveMaximum') !== undefined) hi = Math.min(hi, Math.ceil(s.exclusiveMaximum) - 1);
    if (lo > hi) throw new UnsupportedSchemaError(`${path}: no integer lies between its bounds.`);
    const limit = 10 ** MAX_INT_DIGITS - 1;
    if (Math.abs(lo) !== Infinity && Math.abs(lo) > limit) throw new UnsupportedSchemaError(`${path}: bounds beyond ${MAX_INT_DIGITS} digits are not supported.`);
    if (Math.abs(hi) !== Infinity && Math.abs(hi) > limit) throw new UnsupportedSchemaError(`${path}: bounds beyond ${MAX_INT_DIGITS} digits are not supported.`);
    const alts = [];
    // Non-negative part [max(lo, 0), hi] and negative part [lo, min(hi, -1)], as digit strings.
    if (hi >= 0) alts.push(...this.naturals(Math.max(lo, 0), Math.min(hi, limit)));
    if (lo < 0) alts.push(...this.naturals(Math.max(1, -hi), Math.min(-lo, limit)).map((seq) => [...b.literal('-'), ...seq]));
    return b.rule(alts);
  }

  // Sequences spelling every integer in [lo, hi] (0 <= lo <= hi) without leading zeros.
  naturals(lo, hi) {
    const out = [];
    for (let n = String(lo).length; n <= String(hi).length; n++) {
      const a = Math.max(lo, n === 1 ? 0 : 10 ** (n - 1));
      const z = Math.min(hi, 10 ** n - 1);
      if (a <= z) out.push(...this.digitRange(String(a), String(z)));
    }
    return out;
  }

  // Same-length digit strings from a to z, as a few sequences of digit sets.
  digitRange(a, z) {
    const { b } = this;
    const d = (lo, hi) => b.bytes(48 + lo, 48 + hi);
    if (a.length === 0) return [[]];
    const a0 = +a[0];
    const z0 = +z[0];
    const n = a.length - 1;
    if (a0 === z0) return this.digitRange(a.slice(1), z.slice(1)).map((seq) => [d(a0, a0), ...seq]);
    const out = [];
    const nines = '9'.repeat(n);
    const zeros = '0'.repeat(n);
    // a0 then [a', 99..9]; the digits between with anything; z0 then [00..0, z'].
    let lo_digit = a0;
    if (a.slice(1) !== zeros) {
      out.push(...this.digitRange(a.slice(1), nines).map((seq) => [d(a0, a0), ...seq]));
      lo_digit = a0 + 1;
    }
    let hi_digit = z0;
    const z_full = z.slice(1) === nines;
    if (!z_full) hi_digit = z0 - 1;
    if (lo_digit <= hi_digit) out.push([d(lo_digit, hi_digit), ...Array.from({ length: n }, () => d(0, 9))]);
    if (!z_full) out.push(...this.digitRange(zeros, z.slice(1)).map((seq) => [d(z0, z0), ...seq]));
    return out;
  }
}

function count(v, dflt, path) {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0) throw new UnsupportedSchemaError(`${path} must be a non-negative integer.`);
  if (v > MAX_REPEAT) throw new UnsupportedSchemaError(`${path} above ${MAX_REPEAT} is not supported.`);
  return v;
}

// The type a schema implies by its keywords, when it names none.
function inferType(s) {
  if (s.properties || s.required || s.additionalProperties !== undefined) return 'object';
  if (s.items !== undefined || s.prefixItems || s.minItems !== undefined || s.maxItems !== undefined) return 'array';
  if (s.pattern !== undefined || s.format !== undefined || s.minLength !== undefined || s.maxLength !== undefined) return 'string';
  if (['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => s[k] !== undefined)) return 'number';
  return undefined;
}

// The keywords of outer that a branch does not set, added to the branch (anyOf/allOf beside them).
function mergeInto(outer, branch, path) {
  if (branch === true) return outer;
  if (!branch || typeof branch !== 'object') throw new UnsupportedSchemaError(`${path} must be a schema object.`);
  if (branch.$ref !== undefined) throw new UnsupportedSchemaError(`${path}: $ref inside anyOf or allOf beside other keywords is not supported.`);
  for (const k of Object.keys(outer)) {
    if (KEYWORDS.has(k) && branch[k] !== undefined && JSON.stringify(branch[k]) !== JSON.stringify(outer[k])) {
      throw new UnsupportedSchemaError(`${path}: "${k}" set both beside and inside the branch is not supported.`);
    }
  }
  return { ...outer, ...branch };
}
