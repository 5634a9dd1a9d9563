import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EXPORT_VERSION, ImportError, conversationMarkdown, exportJSON, importSummary, matches, parseImport, planImport, titleFrom,
} from '../../static/js/conversation_io.js';

const chat = (id, updated, messages = [{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: 'Hi! **Bold** reply.' }]) => ({
  id, title: `chat ${id}`, created: 1_700_000_000_000, updated, model: 'smollm2-135m', system: '', settings: { temperature: 0.7 }, messages,
});

test('an export read back gives the same conversations, field for field', () => {
  const conversations = [chat('a', 2), chat('b', 3, [{ role: 'user', content: 'ünïcode 🚀\n"quotes"' },
    { role: 'assistant', content: 'x', usage: { completion_tokens: 1, extra: { decode_tokens_per_s: 9.5 } }, finish_reason: 'stop',
      sources: [{ n: 1, name: 'doc.md', headings: 'H', text: 't' }] },
    { role: 'assistant', content: 'cut', partial: true }])];
  const text = exportJSON(conversations, new Date('2026-11-29T00:00:00Z'));
  const data = JSON.parse(text);
  assert.equal(data.format, 'inpage-conversations');
  assert.equal(data.version, EXPORT_VERSION);
  assert.equal(data.exported_at, '2026-11-29T00:00:00.000Z');
  const back = parseImport(text);
  assert.deepEqual(back.conversations, conversations);
  assert.deepEqual(back.invalid, []);
});

test('importing adds what is new, replaces only with newer edits, and twice changes nothing', () => {
  const stored = new Map([['a', chat('a', 5)], ['b', chat('b', 5)]]);
  const plan = planImport(stored, [chat('a', 9), chat('b', 4), chat('c', 1), chat('c', 2)]);
  assert.deepEqual(plan.put.map((c) => [c.id, c.updated]), [['a', 9], ['c', 1]]);
  assert.deepEqual([plan.added, plan.updated, plan.skipped], [1, 1, 2]);
  for (const c of plan.put) stored.set(c.id, c);
  const again = planImport(stored, [chat('a', 9), chat('c', 1)]);
  assert.deepEqual([again.put.length, again.added, again.updated, again.skipped], [0, 0, 0, 2]);
  assert.match(importSummary(plan, [{ index: 4, why: 'no id' }]), /1 added, 1 updated, 2 skipped .*1 not imported \(#5: no id\)/);
});

test('a file that is not an export is refused in one line; malformed conversations are listed, not imported', () => {
  assert.throws(() => parseImport('<html>502</html>'), (e) => e instanceof ImportError && /not JSON/.test(e.message));
  assert.throws(() => parseImport('{"conversations": []}'), /not an inpage conversations export/);
  assert.throws(() => parseImport(JSON.stringify({ format: 'inpage-conversations', version: 99, conversations: [] })),
    /version 99, newer than this page reads/);
  const text = JSON.stringify({ format: 'inpage-conversations', version: 1, conversations: [
    chat('ok', 1), { id: 'x' }, chat('bad', 1, [{ role: 'robot', content: 'hi' }]), null] });
  const { conversations, invalid } = parseImport(text);
  assert.deepEqual(conversations.map((c) => c.id), ['ok']);
  assert.deepEqual(invalid, [{ index: 1, why: 'no title' }, { index: 2, why: 'message 1 has no role or text' },
    { index: 3, why: 'not an object' }]);
});

test('titles are one line cut at a word; search looks at titles and text', () => {
  assert.equal(titleFrom('  What is\nthe capital of France? '), 'What is the capital of France?');
  const long = titleFrom('Please summarise the attached quarterly report for the board and list the three main risks');
  assert.ok(long.length <= 61 && long.endsWith('…') && !long.includes('  '), long);
  assert.equal(long, 'Please summarise the attached quarterly report for the board…');
  assert.equal(titleFrom('   '), 'New chat');
  const c = chat('a', 1);
  assert.ok(matches(c, 'CHAT A'));
  assert.ok(matches(c, 'bold'));
  assert.ok(matches(c, ''));
  assert.ok(!matches(c, 'sailing'));
});

test('Markdown names each speaker and marks an unfinished answer', () => {
  const md = conversationMarkdown({ ...chat('a', 1, [{ role: 'user', content: 'Q?' }, { role: 'assistant', content: 'A.', partial: true }]),
    system: 'Be brief.' });
  assert.match(md, /^# chat a\n\n2023-11-14T22:13:20.000Z · smollm2-135m\n/);
  assert.match(md, /\*\*System:\*\*\n\nBe brief\.\n\n\*\*You:\*\*\n\nQ\?\n\n\*\*Assistant \(unfinished\):\*\*\n\nA\./);
});

test('an imported conversation keeps its pinned tier and routes, but never its remote consent', () => {
  const c = { ...chat('r', 5, [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', route: { tier: 'remote', model: 'big', reason: 'pinned to remote in this conversation' } }]),
    tier: 'remote', remote: { name: 'gpu-box', endpoint: 'http://gpu-box:8000/v1', documents: true, at: 1 } };
  const { conversations } = parseImport(exportJSON([c]));
  assert.equal(conversations[0].tier, 'remote');
  assert.deepEqual(conversations[0].messages[1].route, c.messages[1].route);
  assert.equal('remote' in conversations[0], false);
});
