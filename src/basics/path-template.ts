// Path templates (`/users/{userId}`, the `paths` keys of an OpenAPI document): the
// resource a remote PDP is asked about (SPEC §7, the AuthZEN API-gateway profile names
// the resource by its template). A template is parsed here, once, for the config check
// and for the matcher (src/policy/path-templates.ts).
//
// A template is held to the canonical request form (./canonical.ts): a literal segment
// no request path can ever equal (`/a%2fb`, `/x/../y`, `/%61`) would silently never
// match, and the request would be sent to the PDP as the route's prefix instead — a
// resource the operator never wrote a rule for. So it is refused.
import { canonicalizePath } from './canonical.ts';

/** One segment: a literal (compared as is) or a parameter (one non-empty segment). */
export type TemplateSegment = { readonly literal: string } | { readonly param: string };

export interface PathTemplate {
  /** The template as written, e.g. `/todos/{todoId}`: the AuthZEN `resource.id`. */
  readonly text: string;
  readonly segments: readonly TemplateSegment[];
}

const PARAM = /^\{([A-Za-z_][A-Za-z0-9_.-]{0,63})\}$/;

/** The parsed template, or the reason it cannot be one (for `routes.N.templates.M: ...`). */
export function parsePathTemplate(text: string): PathTemplate | string {
  if (!text.startsWith('/')) return 'must be a path starting with "/"';
  if (text.length > 1024) return 'must be at most 1024 characters';
  const parts = text.split('/').slice(1);
  const segments: TemplateSegment[] = [];
  const names = new Set<string>();
  // The same text with every parameter replaced by a plain segment must be canonical as is.
  const probe: string[] = [];
  for (const part of parts) {
    const m = PARAM.exec(part);
    if (m) {
      const name = m[1]!;
      if (names.has(name)) return `parameter {${name}} appears twice (each parameter needs its own name)`;
      names.add(name);
      segments.push({ param: name });
      probe.push('p');
    } else if (part.includes('{') || part.includes('}')) {
      return `segment "${part}": a parameter is a whole segment {name} (letters, digits, "_", "-", "."), e.g. /users/{userId}`;
    } else {
      segments.push({ literal: part });
      probe.push(part);
    }
  }
  const probed = `/${probe.join('/')}`;
  const canonical = canonicalizePath(probed);
  if (!canonical.ok) return `must be a canonical path (${canonical.reason})`;
  if (canonical.encodedSlash) return 'must not contain an encoded slash or backslash';
  if (canonical.path !== probed) return 'must be a canonical path (no dot segments, no empty segments, no escapes of letters, digits or -._~)';
  return { text, segments };
}

/** Two templates that match exactly the same paths (`/u/{a}` and `/u/{b}`): the shape key. */
export function templateShape(t: PathTemplate): string {
  return t.segments.map((s) => ('param' in s ? '{}' : s.literal)).join('/');
}
