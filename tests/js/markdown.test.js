import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInline, parseMarkdown } from '../../static/js/markdown.js';

test('html in model output stays text', () => {
  const blocks = parseMarkdown('<img src=x onerror=alert(1)> and <script>x</script>');
  assert.deepEqual(blocks, [{ type: 'p', spans: [{ type: 'text', text: '<img src=x onerror=alert(1)> and <script>x</script>' }] }]);
});

test('inline code, strong and em', () => {
  assert.deepEqual(parseInline('a `b*c*` **d** *e* f'), [
    { type: 'text', text: 'a ' }, { type: 'code', text: 'b*c*' }, { type: 'text', text: ' ' },
    { type: 'strong', text: 'd' }, { type: 'text', text: ' ' }, { type: 'em', text: 'e' }, { type: 'text', text: ' f' },
  ]);
});

test('fenced code keeps its content verbatim, even markdown and html', () => {
  const blocks = parseMarkdown('before\n```js\nlet a = **1** <b>;\n```\nafter');
  assert.deepEqual(blocks.map((b) => b.type), ['p', 'pre', 'p']);
  assert.equal(blocks[1].lang, 'js');
  assert.equal(blocks[1].text, 'let a = **1** <b>;');
});

test('an unterminated fence (mid-stream) takes the rest as code', () => {
  const blocks = parseMarkdown('x\n```\nline 1\nline 2');
  assert.deepEqual(blocks[1], { type: 'pre', lang: '', text: 'line 1\nline 2' });
});

test('lists, headings and paragraphs', () => {
  const blocks = parseMarkdown('# Title\n\n- one\n- **two**\n\n1. first\n2. second\n\nend\nline');
  assert.deepEqual(blocks.map((b) => b.type), ['h', 'ul', 'ol', 'p']);
  assert.equal(blocks[0].level, 1);
  assert.equal(blocks[1].items.length, 2);
  assert.deepEqual(blocks[1].items[1], [{ type: 'strong', text: 'two' }]);
  assert.equal(blocks[2].items.length, 2);
  assert.deepEqual(blocks[3].spans, [{ type: 'text', text: 'end\nline' }]);
});

test('links are not made into anchors', () => {
  const blocks = parseMarkdown('[click](http://evil.example/?q=secret)');
  assert.deepEqual(blocks[0].spans, [{ type: 'text', text: '[click](http://evil.example/?q=secret)' }]);
});

test('a numbered list with blank lines between items stays one list, and keeps its numbering', () => {
  const blocks = parseMarkdown('Tips:\n\n1. one\n\n2. two\n\n3. three\n\nDone.\n\n4. four');
  assert.deepEqual(blocks.map((b) => b.type), ['p', 'ol', 'p', 'ol']);
  assert.equal(blocks[1].items.length, 3);
  assert.equal(blocks[1].start, 1);
  assert.equal(blocks[3].start, 4);
});
