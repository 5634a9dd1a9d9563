// Stop strings over a token stream: text that could still become a stop string is held back,
// so a stop string never reaches the reader, even when it arrives split across tokens.

export class StopMatcher {
  /** @param {string[]} stops */
  constructor(stops) {
    this.stops = stops.filter((s) => typeof s === 'string' && s.length > 0);
    this.held = '';
    this.stopped = false;
  }

  /** Feed one piece of text; returns the text that is safe to emit now. */
  push(text) {
    if (this.stopped) return '';
    const buf = this.held + text;
    let cut = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i !== -1 && (cut === -1 || i < cut)) cut = i;
    }
    if (cut !== -1) {
      this.stopped = true;
      this.held = '';
      return buf.slice(0, cut);
    }
    const keep = partialSuffix(buf, this.stops);
    this.held = buf.slice(buf.length - keep);
    return buf.slice(0, buf.length - keep);
  }

  /** The text still held back, once the stream has ended without a stop. */
  flush() {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }
}

/** Length of the longest suffix of text that is a proper prefix of one of tags (text that may still become one). */
export function partialSuffix(text, tags) {
  let best = 0;
  for (const t of tags) {
    for (let n = Math.min(t.length - 1, text.length); n > best; n--) {
      if (text.endsWith(t.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}
