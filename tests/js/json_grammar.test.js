import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import { UnsupportedSchemaError } from '../../webgpu/errors.js';
import { GrammarMatcher } from '../../webgpu/grammar.js';
import { jsonObjectGrammar, jsonSchemaGrammar } from '../../webgpu/json_grammar.js';
import { seededRandom } from '../../webgpu/sampler.js';
import { SCHEMAS, UNSUPPORTED } from './schemas.js';

const ajv = new Ajv2020({ strict: false, validateFormats: false });
const encode = (t) => new TextEncoder().encode(t);
const accepts = (grammar, text) => {
  const m = new GrammarMatcher(grammar);
  const s = m.advanceBytes(m.start, encode(text));
  return s !== null && s.accept;
};

// A random sentence of the grammar: a random allowed byte at each step, structural bytes favoured
// so strings and arrays end; null when it runs too long.
function sample(grammar, random) {
  const m = new GrammarMatcher(grammar);
  let state = m.start;
  const bytes = [];
  while (bytes.length < 400) {
    if (state.accept && (state.stacks.length === 0 || random() < 0.5)) return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    const allowed = [];
    for (let b = 0; b < 256; b++) {
      const next = m.advance(state, b);
      if (next.stacks.length || next.accept) allowed.push([b, next]);
    }
    const weight = (b) => ('"]},'.includes(String.fromCharCode(b)) ? 40 : b >= 0x80 ? 0.2 : 1);
    let r = random() * allowed.reduce((a, [b]) => a + weight(b), 0);
    const [b, next] = allowed.find(([x]) => (r -= weight(x)) <= 0) ?? allowed[allowed.length - 1];
    bytes.push(b);
    state = next;
  }
  return null;
}

for (const { name, schema } of SCHEMAS) {
  test(`every sentence of the grammar validates: ${name}`, () => {
    const grammar = jsonSchemaGrammar(schema);
    const validate = ajv.compile(schema);
    const random = seededRandom(7);
    let n = 0;
    for (let i = 0; i < 60; i++) {
      const text = sample(grammar, random);
      if (text === null) continue;
      n++;
      const value = JSON.parse(text);
      assert.ok(validate(value), `${text}\n${JSON.stringify(validate.errors)}`);
    }
    assert.ok(n >= 20, `only ${n} of 60 random walks ended`);
  });
}

test('the grammar refuses what the schema rejects', () => {
  const person = jsonSchemaGrammar(SCHEMAS[0].schema);
  assert.ok(accepts(person, '{"name": "A", "age": 3, "city": "B"}'));
  assert.ok(accepts(person, '{\n  "name": "A",\n  "age": 3,\n  "city": "B"\n}'));
  for (const bad of ['{"name": "A", "age": 3}', '{"name": "A", "age": 3.5, "city": "B"}', '{"name": "A", "age": 3, "city": "B", "x": 1}',
    '{"age": 3, "name": "A", "city": "B"}', '{"name": "A\n", "age": 3, "city": "B"}', '{"name": "A", "age": 03, "city": "B"}']) {
    assert.ok(!accepts(person, bad), bad);
  }
  const rating = jsonSchemaGrammar({ type: 'integer', minimum: -47, maximum: 203 });
  for (let v = -300; v <= 300; v++) assert.equal(accepts(rating, String(v)), v >= -47 && v <= 203, String(v));
  assert.ok(!accepts(rating, '-0'));
  assert.ok(accepts(jsonSchemaGrammar({ type: 'string', format: 'date' }), '"1989-11-09"'));
  assert.ok(!accepts(jsonSchemaGrammar({ type: 'string', format: 'date' }), '"1989-13-09"'));
  assert.ok(accepts(jsonSchemaGrammar({ type: 'string', pattern: '^[^,]+"$' }), '"a\\"b\\""'));
  assert.ok(accepts(jsonObjectGrammar(), '{"a": [1, {"b": null}], "c": "d\\u00e9"}'));
  assert.ok(!accepts(jsonObjectGrammar(), '[1]'));
});

test('what cannot be guaranteed is refused, naming it', () => {
  for (const [schema, word] of UNSUPPORTED) {
    assert.throws(() => jsonSchemaGrammar(schema), (e) => e instanceof UnsupportedSchemaError && e.message.includes(word), JSON.stringify(schema));
  }
});
