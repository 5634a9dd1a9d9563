// The model router: which tier answers a chat request (fast, capable or remote), decided by a
// fixed, documented policy from what the request declares and a complexity estimate of its
// messages. No randomness and no model is asked: the same request and settings give the same tier
// and the same reason. The remote tier is only ever chosen for a conversation that consented.

import { RequestError } from './errors.js';

export const TIERS = ['fast', 'capable', 'remote'];

/**
 * The policy's settings (README, "The router"). capable_from and remote_from: the complexity score
 * from which that tier is wanted. without_consent: what happens to a message the policy would send
 * remote in a conversation that has not consented: 'local' (the best local tier answers it, and the
 * reason says so) or 'ask' (it waits for the user).
 */
export const DEFAULT_POLICY = Object.freeze({ capable_from: 2, remote_from: 5, without_consent: 'local' });

const CODE_LINE = /^\s*(?:def |class |function |import |from \S+ import |#include|const |let |var |return\b|public |SELECT |for \(|if \(|while \()|[;{}]\s*$/;
const STEP_ITEM = /^\s*(?:\d+[.)]|[-*•])\s+\S/;
const STEP_WORDS = /\b(?:first|second|third|then|next|after that|finally|step by step)\b/gi;
const ANALYSIS_WORDS = /\b(?:prove|derive|analy[sz]e|compare|trade-?offs?|explain why|design|refactor|debug)\b/i;

/** A rough token count of text: one token per 4 characters (the usual rule for English). */
export function estimateTokens(text) {
  return Math.ceil(text.length / 4);
}

function textOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.filter((p) => p?.type === 'text').map((p) => p.text).join('\n');
  return '';
}

/**
 * The complexity estimate of a conversation's last user message, as points:
 * - length: 1 point from 150 estimated tokens, 2 from 600;
 * - code: 2 points for a fenced block or 3 lines that read as code;
 * - steps: 2 points for 3 or more list items, else 1 for 2 or more step words (first, then, finally...);
 * - analysis: 1 point for asking to prove, derive, analyse, compare, design, refactor or debug.
 * Returns {score, signals}, signals naming each point's source.
 */
export function complexity(messages) {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  const text = last ? textOf(last.content) : '';
  const lines = text.split('\n');
  const signals = {};
  const tokens = estimateTokens(text);
  if (tokens >= 600) signals.length = 2;
  else if (tokens >= 150) signals.length = 1;
  if (text.includes('```') || lines.filter((l) => CODE_LINE.test(l)).length >= 3) signals.code = 2;
  const items = lines.filter((l) => STEP_ITEM.test(l)).length;
  const words = (text.match(STEP_WORDS) ?? []).length;
  if (items >= 3) signals.steps = 2;
  else if (words >= 2) signals.steps = 1;
  if (ANALYSIS_WORDS.test(text)) signals.analysis = 1;
  const score = Object.values(signals).reduce((a, b) => a + b, 0);
  return { score, signals, tokens };
}

/**
 * What a request needs of a tier: context (estimated prompt tokens plus max_tokens, or the
 * request's requires.context if larger), images (an image part, or requires.images) and frontier
 * reasoning (requires.reasoning === 'frontier').
 */
export function needsOf(request) {
  const messages = request.messages ?? [];
  const requires = request.requires ?? {};
  const prompt = messages.reduce((n, m) => n + estimateTokens(textOf(m.content)) + 4, 0);
  const images = requires.images === true
    || messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p?.type === 'image_url' || p?.type === 'input_image'));
  const max_tokens = request.max_completion_tokens ?? request.max_tokens ?? 512;
  return {
    context: Math.max(requires.context ?? 0, prompt + max_tokens),
    images,
    frontier: requires.reasoning === 'frontier',
  };
}

/** Whether a tier can take a request with these needs; null if so, else why not. */
function unmet(tier, needs) {
  if (needs.frontier && !tier.frontier) return 'frontier reasoning';
  if (needs.images && !tier.images) return 'images';
  if (tier.context && needs.context > tier.context) return `${needs.context} tokens of context (it has ${tier.context})`;
  return null;
}

function describe(signals) {
  const names = { length: 'a long message', code: 'code', steps: 'several steps', analysis: 'analysis asked for' };
  const found = Object.keys(signals).map((k) => names[k]);
  return found.length ? found.join(', ') : 'a short, plain message';
}

/**
 * The tier for a request. tiers: {fast?, capable?, remote?}, each {model, context?, images?,
 * frontier?, endpoint?}; missing tiers are not configured. options: {pinned, consent, policy}:
 * pinned, the tier the conversation pinned ('auto' or none: the policy decides); consent, whether
 * the conversation allowed the remote tier.
 * Returns {tier, model, reason, score, signals, needs, held?}: held 'consent' when the request
 * waits for the user to allow the remote tier (policy without_consent 'ask', or no local tier can
 * take it); tier null when no configured tier can.
 */
export function decide(request, tiers, { pinned = 'auto', consent = false, policy = DEFAULT_POLICY } = {}) {
  const p = { ...DEFAULT_POLICY, ...policy };
  const needs = needsOf(request);
  const { score, signals } = complexity(request.messages ?? []);
  const base = { score, signals, needs };
  const result = (tier, reason, extra = {}) => ({ tier, model: tier ? tiers[tier].model : null, reason, ...base, ...extra });
  const available = TIERS.filter((t) => tiers[t]);

  let wanted;
  let why;
  let pin_note = '';
  if (pinned && pinned !== 'auto') {
    if (!TIERS.includes(pinned)) throw new RequestError(`The pinned tier must be auto, fast, capable or remote, not ${pinned}.`);
    if (!tiers[pinned]) {
      pin_note = `pinned to ${pinned}, which is not configured; `;
    } else {
      wanted = pinned;
      why = `pinned to ${pinned} in this conversation`;
    }
  }
  if (!wanted) {
    const hard = needs.frontier ? 'frontier reasoning was asked for' : needs.images ? 'the message has images' : null;
    let from;
    if (hard) from = 'remote';
    else if (score >= p.remote_from) from = 'remote';
    else if (score >= p.capable_from) from = 'capable';
    else from = 'fast';
    const complexity_why = `complexity ${score} (${describe(signals)})`;
    // The wanted tier, else the next one up that can take it, else the nearest one down.
    const up = TIERS.slice(TIERS.indexOf(from)).filter((t) => tiers[t] && !unmet(tiers[t], needs));
    const down = TIERS.slice(0, TIERS.indexOf(from)).reverse().filter((t) => tiers[t] && !unmet(tiers[t], needs));
    wanted = up[0] ?? down[0] ?? null;
    const reason_of = pin_note + (hard ?? complexity_why);
    if (!wanted) {
      const missing = available.length ? available.map((t) => `${t} lacks ${unmet(tiers[t], needs)}`).join('; ') : 'no tier is configured';
      return result(null, `${reason_of}, and no tier can take it: ${missing}`);
    }
    why = wanted === from ? reason_of
      : `${reason_of}; ${from} ${tiers[from] ? `lacks ${unmet(tiers[from], needs)}` : 'is not configured'}, so ${wanted}`;
  }
  if (wanted !== 'remote' || consent) return result(wanted, why);

  // The policy (or the pin) wants the remote tier, and this conversation has not consented.
  const local = ['capable', 'fast'].find((t) => tiers[t] && !unmet(tiers[t], needs));
  if (p.without_consent === 'ask' || !local) {
    return result('remote', `${why}; waiting for you to allow the remote tier in this conversation`, { held: 'consent' });
  }
  return result(local, `${why}, but this conversation has not allowed the remote tier, so ${local} answered here`, { kept_local: true });
}

/**
 * A router over tiers: {fast?, capable?, remote?}, each {model, context?, images?, frontier?,
 * endpoint?, engine: () => Promise<engine>} where engine is OpenAI-shaped (chat.completions.create).
 * router.send(route, request) sends a request down a route decide() gave; router.create(request,
 * options) decides (options as decide's) and sends. Both return {route, result}, result being what
 * the tier's engine's create returns.
 */
export function createRouter({ tiers, policy = DEFAULT_POLICY }) {
  const send = async (route, request) => {
    if (!route.tier) throw new RequestError(`No tier can answer this: ${route.reason}.`);
    if (route.held) throw new ConsentNeededError(route);
    const { requires, ...body } = request;
    const engine = await tiers[route.tier].engine();
    return { route, result: await engine.chat.completions.create(body) };
  };
  return {
    tiers,
    policy,
    decide: (request, options = {}) => decide(request, tiers, { policy, ...options }),
    send,
    create: (request, options = {}) => send(decide(request, tiers, { policy, ...options }), request),
  };
}

/** The request would go to the remote tier, which this conversation has not allowed. */
export class ConsentNeededError extends RequestError {
  constructor(route) {
    super(`This message would go to the remote tier (${route.reason}). Allow the remote tier in this conversation, or answer it locally.`);
    this.route = route;
  }
}
