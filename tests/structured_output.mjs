// Constrained output from the real model through the engine's OpenAI-shaped API, in node: each
// schema of tests/js/schemas.js (or those named), the answer parsed and validated with Ajv, then a
// tool call and its follow-up turn (unless `no-tools`). Prints one JSON line.
// Usage: node --import ./webgpu/node/register.js tests/structured_output.mjs BACKEND MODEL_DIR [NAME,NAME,...] [no-tools]

import Ajv2020 from 'ajv/dist/2020.js';
import { createNodeEngine } from '../webgpu/node/runtime.js';
import { SCHEMAS } from './js/schemas.js';

const [backend, dir, names, tools_flag] = process.argv.slice(2);
const wanted = names ? names.split(',') : null;
const engine = await createNodeEngine([dir], { backend });
const ajv = new Ajv2020({ strict: false, validateFormats: false });
const results = [];
for (const { name, schema, prompt } of SCHEMAS.filter((s) => !wanted || wanted.includes(s.name))) {
  const r = await engine.chat.completions.create({
    messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: 160,
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
  });
  const text = r.choices[0].message.content;
  let valid = false;
  let error = null;
  try {
    const validate = ajv.compile(schema);
    valid = validate(JSON.parse(text));
    if (!valid) error = ajv.errorsText(validate.errors);
  } catch (e) {
    error = e.message;
  }
  results.push({ name, text, valid, error, finish_reason: r.choices[0].finish_reason, grammar: r.usage.extra.grammar });
}

if (tools_flag === 'no-tools') {
  console.log(JSON.stringify({ backend, results }));
  process.exit(0);
}

// A tool call, its result, and the answer that follows.
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'The weather now in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 30 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] } } }];
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const first = await engine.chat.completions.create({ messages, tools, tool_choice: 'required', temperature: 0, max_tokens: 80 });
const call = first.choices[0].message.tool_calls?.[0];
messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call?.id, content: '{"temperature": 18, "sky": "clear"}' });
const second = await engine.chat.completions.create({ messages, tools, temperature: 0, max_tokens: 40 });
const tool = {
  finish_reason: first.choices[0].finish_reason, call,
  arguments_valid: call ? ajv.compile(tools[0].function.parameters)(JSON.parse(call.function.arguments)) : false,
  answer: second.choices[0].message, answer_finish_reason: second.choices[0].finish_reason,
};
console.log(JSON.stringify({ backend, results, tool }));
process.exit(0);
