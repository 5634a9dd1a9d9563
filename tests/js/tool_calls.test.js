import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import { RequestError } from '../../webgpu/errors.js';
import { GrammarMatcher } from '../../webgpu/grammar.js';
import { seededRandom } from '../../webgpu/sampler.js';
import { ToolCallStream, checkTools, promptMessages, toolGrammar } from '../../webgpu/tool_calls.js';

const TOOLS = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] } } },
  { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] } } },
];

// Every way of cutting text into two or three pieces, through a fresh stream: the deltas it gives.
function* splits(text) {
  for (let i = 0; i <= text.length; i++) for (let j = i; j <= text.length; j += 7) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
}

function run(pieces) {
  const s = new ToolCallStream();
  const deltas = [...pieces.flatMap((p) => s.push(p)), ...s.end()];
  const content = deltas.map((d) => d.content ?? '').join('');
  const calls = [];
  for (const d of deltas) {
    for (const t of d.tool_calls ?? []) {
      calls[t.index] ??= { id: t.id, name: t.function.name, arguments: '' };
      calls[t.index].arguments += t.function.arguments;
    }
  }
  return { content, calls, parsed: s.calls };
}

test('a reply splits into content and calls however the text arrives', () => {
  const text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo}", "unit": "celsius"}}\n</tool_call>';
  for (const pieces of splits(text)) {
    const { content, calls, parsed } = run(pieces);
    assert.equal(content, 'Let me check.', JSON.stringify(pieces));
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Oslo}', unit: 'celsius' }, JSON.stringify(pieces));
    assert.equal(parsed[0].function.arguments, calls[0].arguments);
    assert.match(calls[0].id, /^call_[0-9a-f]{24}$/);
  }
  assert.deepEqual(run(['a < b, and <tool', ' no call']).content, 'a < b, and <tool no call');
});

test('the grammar of a named call keeps to that function and its schema', () => {
  const ajv = new Ajv2020({ strict: false });
  const validate = ajv.compile(TOOLS[1].function.parameters);
  const { grammar, trigger } = toolGrammar(checkTools(TOOLS, { type: 'function', function: { name: 'add' } }));
  assert.equal(trigger, null);
  const m = new GrammarMatcher(grammar);
  const random = seededRandom(3);
  for (let i = 0; i < 30; i++) {
    let state = m.start;
    const bytes = [];
    while (!(state.accept && state.stacks.length === 0)) {
      const allowed = [];
      for (let b = 0; b < 256; b++) if (m.advance(state, b).stacks.length || m.advance(state, b).accept) allowed.push(b);
      const b = allowed[Math.floor(random() * allowed.length)];
      bytes.push(b);
      state = m.advance(state, b);
      assert.ok(bytes.length < 2000);
    }
    const { calls } = run([new TextDecoder().decode(Uint8Array.from(bytes))]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'add');
    assert.ok(validate(JSON.parse(calls[0].arguments)), calls[0].arguments);
  }
  assert.equal(toolGrammar(checkTools(TOOLS, 'auto')).trigger, '<tool_call>');
});

test('tools and tool_choice are checked', () => {
  assert.throws(() => checkTools(TOOLS, { type: 'function', function: { name: 'nope' } }), RequestError);
  assert.throws(() => checkTools([{ type: 'function', function: { name: 'has space' } }]), RequestError);
  assert.throws(() => checkTools(undefined, 'required'), RequestError);
  assert.throws(() => checkTools([TOOLS[0], TOOLS[0]]), /used twice/);
  assert.equal(checkTools(TOOLS).choice, 'auto');
});

test('past calls and tool results become turns any template can render', () => {
  const messages = promptMessages([
    { role: 'user', content: 'Weather in Oslo?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo","unit":"celsius"}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: '{"temp": -3}' },
    { role: 'user', content: 'Thanks. And tomorrow?' },
  ], { extra_system: ['TOOLS'] });
  assert.deepEqual(messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
  assert.equal(messages[0].content, 'TOOLS');
  assert.match(messages[2].content, /^<tool_call>\n\{"name":"get_weather","arguments":\{"city":"Oslo","unit":"celsius"\}\}\n<\/tool_call>$/);
  assert.equal(messages[3].content, '<tool_response>\n{"temp": -3}\n</tool_response>\n\nThanks. And tomorrow?');
  assert.throws(() => promptMessages([{ role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{oops' } }] }]), RequestError);
});

test('messages without tools pass as they came, consecutive turns included', () => {
  const messages = [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }, { role: 'assistant', content: 'c' }];
  assert.deepEqual(promptMessages(messages), messages);
});
