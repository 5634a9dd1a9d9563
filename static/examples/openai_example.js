// The example page: the page's own OpenAI-compatible endpoint through the official SDK, unchanged.

import OpenAI from '/vendor/openai/index.mjs';

const $ = (id) => document.getElementById(id);
// The SDK refuses to run in a browser unless told: the "key" here is never checked or sent anywhere
// but this origin's service worker.
const client = new OpenAI({ baseURL: new URL('/v1', location.origin).href, apiKey: 'inpage', dangerouslyAllowBrowser: true, maxRetries: 0 });

const CONTACT = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 40 },
    age: { type: 'integer', minimum: 0, maximum: 130 },
    city: { type: 'string', maxLength: 40 },
    phone: { type: 'string', pattern: '^\\d{3}-\\d{3}-\\d{4}$' },
  },
  required: ['name', 'age', 'city', 'phone'],
  additionalProperties: false,
};

const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather now in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 40 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] },
  },
}];

// Sample readings: the example's tool, so the page needs no weather service.
const READINGS = { paris: 18, oslo: -3, madrid: 24, tokyo: 21 };
function getWeather({ city, unit }) {
  const c = READINGS[city.trim().toLowerCase()];
  if (c === undefined) return { city, error: 'no reading for this city in the sample table' };
  return { city, temperature: unit === 'fahrenheit' ? Math.round(c * 9 / 5 + 32) : c, unit, source: 'sample table in this page' };
}

function showError(e) {
  $('example-error').textContent = `${e.status ? `${e.status}: ` : ''}${e.message}`;
  $('example-error').hidden = false;
}

async function checkEndpoint() {
  try {
    const models = await client.models.list();
    const ids = models.data.filter((m) => m.task === 'chat').map((m) => m.id);
    $('endpoint-status').textContent = `The endpoint lists ${ids.length} chat model${ids.length === 1 ? '' : 's'}: ${ids.join(', ')}. Keep the app open in another tab to answer.`;
  } catch (e) {
    $('endpoint-status').textContent = `The endpoint did not answer (${e.message}). Open the app (/) once so its service worker runs, then reload.`;
  }
}

async function fill() {
  $('example-error').hidden = true;
  $('fill').disabled = true;
  try {
    const r = await client.chat.completions.create({
      messages: [{ role: 'user', content: `Extract the contact details from this text:\n${$('free-text').value}` }],
      response_format: { type: 'json_schema', json_schema: { name: 'contact', schema: CONTACT, strict: true } },
      temperature: 0,
      max_tokens: 120,
    });
    const contact = JSON.parse(r.choices[0].message.content);
    $('fill-json').textContent = JSON.stringify(contact, null, 2);
    for (const [k, v] of Object.entries(contact)) $('contact').elements[k].value = v;
  } catch (e) {
    showError(e);
  } finally {
    $('fill').disabled = false;
  }
}

async function ask() {
  $('example-error').hidden = true;
  $('ask').disabled = true;
  $('tool-answer').textContent = '';
  try {
    const messages = [{ role: 'user', content: $('question').value }];
    const first = await client.chat.completions.create({ messages, tools: TOOLS, tool_choice: 'required', temperature: 0, max_tokens: 80 });
    const message = first.choices[0].message;
    const call = message.tool_calls[0];
    const result = getWeather(JSON.parse(call.function.arguments));
    $('tool-call').textContent = `${call.function.name}(${call.function.arguments})\n→ ${JSON.stringify(result)}`;
    messages.push(message, { role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
    // The answer, streamed.
    const stream = await client.chat.completions.create({ messages, tools: TOOLS, tool_choice: 'none', temperature: 0, max_tokens: 60, stream: true });
    for await (const chunk of stream) $('tool-answer').textContent += chunk.choices[0]?.delta?.content ?? '';
  } catch (e) {
    showError(e);
  } finally {
    $('ask').disabled = false;
  }
}

$('fill').addEventListener('click', fill);
$('ask').addEventListener('click', ask);
checkEndpoint();
