// Conversations as files: the versioned JSON export (which round-trips exactly), Markdown for
// reading, and importing JSON back with a report of what was added, updated or skipped.
// Pure functions of plain objects, so node tests them as the page uses them.

export const EXPORT_FORMAT = 'inpage-conversations';
export const EXPORT_VERSION = 1;
const ROLES = new Set(['system', 'user', 'assistant']);
const TITLE_CHARS = 60;

export class ImportError extends Error {}

/** A conversation's title from its first user message: one line, cut at a word near 60 characters. */
export function titleFrom(text) {
  const line = String(text).replace(/\s+/g, ' ').trim();
  if (line.length <= TITLE_CHARS) return line || 'New chat';
  const space = line.lastIndexOf(' ', TITLE_CHARS); // a space right after the 60th character counts
  return `${(space > TITLE_CHARS / 2 ? line.slice(0, space) : line.slice(0, TITLE_CHARS)).trimEnd()}…`;
}

/** Does a conversation's title or any of its messages contain the query (case-insensitive)? */
export function matches(conversation, query) {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  if (conversation.title.toLowerCase().includes(q)) return true;
  return conversation.messages.some((m) => m.content.toLowerCase().includes(q));
}

/** The JSON export of some conversations: `{format, version, exported_at, conversations}`. */
export function exportJSON(conversations, now = new Date()) {
  return JSON.stringify({ format: EXPORT_FORMAT, version: EXPORT_VERSION, exported_at: now.toISOString(), conversations }, null, 2);
}

/** One conversation as Markdown: title, system prompt, then each turn under its speaker. */
export function conversationMarkdown(c) {
  const lines = [`# ${c.title}`, '', `${new Date(c.created).toISOString()}${c.model ? ` · ${c.model}` : ''}`, ''];
  if (c.system) lines.push('**System:**', '', c.system, '');
  for (const m of c.messages) {
    const who = m.role === 'user' ? 'You' : m.role === 'assistant' ? 'Assistant' : 'System';
    const mark = m.partial ? ' (unfinished)' : '';
    lines.push(`**${who}${mark}:**`, '', m.content, '');
    if (m.sources?.length) {
      for (const s of m.sources) lines.push(`> [${s.n}] ${[s.name, s.headings].filter(Boolean).join(' › ')}`);
      lines.push('');
    }
  }
  return lines.join('\n');
}

export function exportMarkdown(conversations) {
  return conversations.map(conversationMarkdown).join('\n---\n\n');
}

/**
 * Reads an export. Throws ImportError (one line, saying what to do) when the file is not one;
 * conversations that are malformed are returned in `invalid` with the reason, not imported.
 * @returns {{conversations: object[], invalid: {index: number, why: string}[]}}
 */
export function parseImport(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ImportError('this file is not JSON: choose a file exported from inpage with "Export all (JSON)"');
  }
  if (data?.format !== EXPORT_FORMAT || !Array.isArray(data.conversations)) {
    throw new ImportError(`this JSON is not an inpage conversations export (no "format": "${EXPORT_FORMAT}"): choose a file exported from inpage`);
  }
  if (!Number.isInteger(data.version) || data.version > EXPORT_VERSION) {
    throw new ImportError(`this export is version ${data.version}, newer than this page reads (${EXPORT_VERSION}): reload the page to update inpage, then import again`);
  }
  const conversations = [];
  const invalid = [];
  data.conversations.forEach((c, index) => {
    const why = invalidReason(c);
    if (why) invalid.push({ index, why });
    else conversations.push(withoutConsent(c));
  });
  return { conversations, invalid };
}

// Consent to the remote tier is given in this browser, by its user: an imported conversation
// comes without it (and asks again before anything of it is sent remote).
function withoutConsent({ remote, ...c }) {
  return c;
}

function invalidReason(c) {
  if (!c || typeof c !== 'object') return 'not an object';
  if (typeof c.id !== 'string' || !c.id) return 'no id';
  if (typeof c.title !== 'string') return 'no title';
  if (!Number.isFinite(c.created) || !Number.isFinite(c.updated)) return 'no created/updated time';
  if (!Array.isArray(c.messages)) return 'no messages';
  const bad = c.messages.findIndex((m) => !m || !ROLES.has(m.role) || typeof m.content !== 'string');
  if (bad >= 0) return `message ${bad + 1} has no role or text`;
  return null;
}

/**
 * What importing does next to what is stored: a conversation not here is added; one here with
 * the same id is replaced only by a newer edit (a later `updated`) and skipped otherwise, so
 * importing a file twice changes nothing.
 * @param {Map<string, object>} stored by id
 * @returns {{put: object[], added: number, updated: number, skipped: number}}
 */
export function planImport(stored, imported) {
  const put = [];
  let added = 0, updated = 0, skipped = 0;
  const seen = new Set();
  for (const c of imported) {
    if (seen.has(c.id)) { skipped++; continue; }
    seen.add(c.id);
    const here = stored.get(c.id);
    if (!here) { put.push(c); added++; }
    else if (c.updated > here.updated) { put.push(c); updated++; }
    else skipped++;
  }
  return { put, added, updated, skipped };
}

/** The sentence the page shows after an import. */
export function importSummary({ added, updated, skipped }, invalid) {
  const parts = [`${added} added`, `${updated} updated`, `${skipped} skipped (already here, or older than what is here)`];
  if (invalid.length) parts.push(`${invalid.length} not imported (${invalid.map((x) => `#${x.index + 1}: ${x.why}`).join('; ')})`);
  return `Imported conversations: ${parts.join(', ')}.`;
}
