// A route's `openapi: FILE` (SPEC §7): an OpenAPI 3 document, JSON or YAML, whose
// `paths` keys are the route's path templates — the resource ids a remote PDP is asked
// about, as the AuthZEN API-gateway profile names them. Read at config load (so
// `ztproxy check` reports a broken document) and again when a snapshot is built.
import { readFileSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';

/** An API description is not a data set; a bigger file is a mistake (or an attack on the loader). */
const MAX_BYTES = 16 << 20;

/** The `paths` keys of the document, in document order; or the reason there are none. */
export function readOpenApiTemplates(file: string): { templates: string[] } | { error: string } {
  let text: string;
  try {
    if (statSync(file).size > MAX_BYTES) return { error: `${file} is larger than 16 MiB` };
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { error: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  // YAML 1.2 reads JSON too. A repeated key is an error (two `/users/{id}` entries would
  // otherwise silently become one); alias expansion is bounded ("billion laughs").
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, merge: false });
  if (doc.errors.length > 0) return { error: `${file} is not JSON or YAML (${doc.errors[0]!.message.split('\n')[0]})` };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { error: `${file}: ${(err as Error).message}` };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { error: `${file} is not an OpenAPI document (not a mapping)` };
  const version = (raw as { openapi?: unknown }).openapi;
  if (typeof version !== 'string' || !/^3\.\d+(\.\d+)?$/.test(version)) {
    return { error: `${file} is not an OpenAPI 3 document (its "openapi" field is ${JSON.stringify(version) ?? 'missing'}, expected e.g. "3.1.0")` };
  }
  const paths = (raw as { paths?: unknown }).paths;
  if (paths === null || typeof paths !== 'object' || Array.isArray(paths)) return { error: `${file} has no "paths" mapping` };
  const templates = Object.keys(paths);
  if (templates.length === 0) return { error: `${file} lists no paths` };
  return { templates };
}
