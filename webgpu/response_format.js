// OpenAI's response_format: free text, any JSON object, or JSON that validates against a schema.
// The grammar guarantees the shape; the instruction added to the system prompt tells the model
// what is wanted, which a small model needs to fill the shape with sense.

import { RequestError, UnsupportedSchemaError } from './errors.js';
import { jsonObjectGrammar, jsonSchemaGrammar } from './json_grammar.js';

/** {grammar, schema, instruction}: all null/undefined for text. Refuses what it cannot guarantee. */
export function checkResponseFormat(format) {
  if (format === undefined || format === null || format.type === 'text') return { grammar: null, schema: undefined, instruction: null };
  if (format.type === 'json_object') {
    return { grammar: jsonObjectGrammar(), schema: { type: 'object' }, instruction: 'Reply with a JSON object only.' };
  }
  if (format.type !== 'json_schema') {
    throw new RequestError(`response_format.type must be text, json_object or json_schema, not ${JSON.stringify(format.type)}.`);
  }
  const schema = format.json_schema?.schema;
  if (!schema || typeof schema !== 'object') {
    throw new RequestError('response_format {type: "json_schema"} needs json_schema: {name, schema, strict?}.');
  }
  try {
    return {
      grammar: jsonSchemaGrammar(schema),
      schema,
      instruction: `Reply with JSON only, matching this JSON schema:\n${JSON.stringify(schema)}`,
    };
  } catch (e) {
    if (e instanceof UnsupportedSchemaError) throw new UnsupportedSchemaError(`response_format.json_schema.schema: ${e.message}`);
    throw e;
  }
}
