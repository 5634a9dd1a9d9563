import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChatTemplate } from '../../webgpu/chat_template.js';
import { promptMessages } from '../../webgpu/tool_calls.js';

// Qwen's way (shortened): the tools in a system turn, past calls as <tool_call> tags, results as
// <tool_response> in a user turn.
const QWEN_LIKE = `{%- if tools %}<|im_start|>system
<tools>{% for t in tools %}
{{ t | tojson }}{% endfor %}
</tools><|im_end|>
{% endif %}{% for m in messages %}{% if m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant
{% for c in m.tool_calls %}<tool_call>
{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% elif m.role == 'tool' %}<|im_start|>user
<tool_response>
{{ m.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

const tokenizer = { tokens: [], ids: new Map(), bos_id: null, eos_id: null, add_bos: false };
const template = (source) => createChatTemplate(new Map([['general.architecture', 'qwen3'], ...(source ? [['tokenizer.chat_template', source]] : [])]), tokenizer);
const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

test('a template that renders tools gets them, and the messages as OpenAI has them', () => {
  const render = template(QWEN_LIKE);
  assert.equal(render.renders_tools, true);
  const messages = promptMessages([
    { role: 'user', content: 'Weather in Oslo?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: '{"temp": -3}' },
  ], { native: true });
  const text = render(messages, { tools: TOOLS });
  assert.match(text, /<tools>\s*\{"type":\s*"function"/);
  assert.match(text, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city":\s*"Oslo"\}\}\n<\/tool_call>/);
  assert.match(text, /<tool_response>\n\{"temp": -3\}\n<\/tool_response>/);
  assert.ok(text.endsWith('<|im_start|>assistant\n'));
});

test('a template without tools is told of them in the system prompt instead', () => {
  assert.equal(template(null).renders_tools, false); // our ChatML default
  assert.equal(template("{% for m in messages %}{{ m['content'] }}{% endfor %}").renders_tools, false);
});
