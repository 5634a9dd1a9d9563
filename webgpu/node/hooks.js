// Module resolution for the engine in node: the page imports its npm packages by the host's
// /vendor/ URLs (server/assets.py); in node they come from node_modules.

const VENDOR = { '/vendor/jinja/index.js': '@huggingface/jinja' };

export async function resolve(specifier, context, next) {
  if (specifier in VENDOR) return next(VENDOR[specifier], context);
  return next(specifier, context);
}
