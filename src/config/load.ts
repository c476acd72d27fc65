// Loading a config file: YAML → ${ENV} interpolation → schema → file checks.
// Every problem is collected and reported at once as `path.to.key: message`, so an
// operator fixes a broken file in one pass (the oauth2-proxy habit), and nothing is
// half-applied: the caller either gets a whole Config or the list of problems.
import { readFile } from 'node:fs/promises';
import { accessSync, constants } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { readOpenApiTemplates } from './openapi.ts';
import { templateListIssues } from './pdp.ts';

export type LoadResult = { ok: true; config: Config; file: string } | { ok: false; errors: string[]; file: string };

export function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

/** Zod issues as `path.to.key: message`, one line per unknown key. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      // Zod's own wording is replaced; a schema that explains the allowed keys (the
      // policy rules do) keeps its message.
      const generic = issue.message.startsWith('Unrecognized key');
      for (const key of issue.keys) out.push(`${formatPath([...issue.path, key])}: ${generic ? 'unknown key' : issue.message}`);
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // A union (e.g. a size given as number or string) failing on every branch:
      // report the branch that got furthest rather than "Invalid input".
      const deepest = issue.errors.flat().sort((a, b) => b.path.length - a.path.length)[0];
      if (deepest) {
        out.push(`${formatPath([...issue.path, ...deepest.path]) || '(root)'}: ${deepest.message}`);
        continue;
      }
    }
    const where = formatPath(issue.path) || '(root)';
    const message = issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
    out.push(`${where}: ${message}`);
  }
  return out;
}

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replace `${NAME}` in string scalars by the environment variable. Done on the parsed
 * tree, not the text, so a value can never inject YAML structure. `$${NAME}` is a
 * literal `${NAME}`. An unset variable is an error at its key.
 */
function interpolate(node: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, errors: string[]): unknown {
  if (typeof node === 'string') {
    return node.replace(ENV_REF, (whole, name: string | undefined) => {
      if (name === undefined) return '${';
      const value = env[name];
      if (value === undefined) {
        errors.push(`${formatPath(path) || '(root)'}: environment variable ${name} is not set`);
        return whole;
      }
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolate(v, [...path, i], env, errors));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = interpolate(v, [...path, k], env, errors);
    return out;
  }
  return node;
}

/**
 * Files the config names, resolved against the working directory (as the SPEC's
 * example `certs/server.crt` in `config/ztproxy.yaml` means), once, at load.
 */
function resolveFiles(config: Config, base: string): Config {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const c = structuredClone(config);
  c.listen.tls.cert = abs(c.listen.tls.cert);
  c.listen.tls.key = abs(c.listen.tls.key);
  if (c.listen.clientAuth.ca) c.listen.clientAuth.ca = abs(c.listen.clientAuth.ca);
  if (c.listen.clientAuth.crl) c.listen.clientAuth.crl = abs(c.listen.clientAuth.crl);
  for (const issuer of c.identity.jwt ?? []) if (issuer.jwksFile) issuer.jwksFile = abs(issuer.jwksFile);
  for (const issuer of c.device?.issuers ?? []) if (issuer.jwksFile) issuer.jwksFile = abs(issuer.jwksFile);
  if (c.identity.assertion.keys) c.identity.assertion.keys = c.identity.assertion.keys.map(abs);
  for (const r of c.routes) {
    if (r.openapi) r.openapi = abs(r.openapi);
    if (!r.upstreamTls) continue;
    if (r.upstreamTls.ca) r.upstreamTls.ca = abs(r.upstreamTls.ca);
    if (r.upstreamTls.cert) r.upstreamTls.cert = abs(r.upstreamTls.cert);
    if (r.upstreamTls.key) r.upstreamTls.key = abs(r.upstreamTls.key);
  }
  return c;
}

function checkReadable(config: Config, errors: string[]): void {
  const files: [string, string | undefined][] = [
    ['listen.tls.cert', config.listen.tls.cert],
    ['listen.tls.key', config.listen.tls.key],
    ['listen.clientAuth.ca', config.listen.clientAuth.ca],
    ['listen.clientAuth.crl', config.listen.clientAuth.crl],
  ];
  config.identity.jwt?.forEach((issuer, i) => files.push([`identity.jwt.${i}.jwksFile`, issuer.jwksFile]));
  config.identity.assertion.keys?.forEach((file, i) => files.push([`identity.assertion.keys.${i}`, file]));
  config.device?.issuers.forEach((issuer, i) => files.push([`device.issuers.${i}.jwksFile`, issuer.jwksFile]));
  config.routes.forEach((r, i) => {
    files.push([`routes.${i}.upstreamTls.ca`, r.upstreamTls?.ca]);
    files.push([`routes.${i}.upstreamTls.cert`, r.upstreamTls?.cert]);
    files.push([`routes.${i}.upstreamTls.key`, r.upstreamTls?.key]);
  });
  for (const [key, file] of files) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      errors.push(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  config.routes.forEach((r, i) => {
    if (r.openapi === undefined) return;
    const read = readOpenApiTemplates(r.openapi);
    if ('error' in read) {
      errors.push(`routes.${i}.openapi: ${read.error}`);
      return;
    }
    for (const issue of templateListIssues(read.templates, r.match.pathPrefix)) {
      errors.push(`routes.${i}.openapi: paths key "${read.templates[issue.index]}" ${issue.message}`);
    }
  });
}

/** Validate config text. `base` is the folder relative file paths are resolved against (the working directory). */
export function parseConfig(text: string, base: string, env: NodeJS.ProcessEnv = process.env): { config?: Config; errors: string[] } {
  // uniqueKeys: a repeated key is an error, not "last one wins" (two `policy:` blocks
  // would otherwise silently drop one). maxAliasCount bounds alias expansion
  // ("billion laughs").
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, merge: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return `(yaml line ${pos.line} column ${pos.col}): ${e.message.split('\n')[0]}`;
      }),
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { errors: [`(yaml): ${(err as Error).message}`] };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { errors: ['(root): must be a mapping of keys (listen, routes, ...)'] };
  }
  const errors: string[] = [];
  const interpolated = interpolate(raw, [], env, errors);
  // reportInput: formatIssues tells a missing key ("is required") from a wrong type by
  // the issue's input, which zod leaves out unless asked (`name: 5` is not "required").
  const parsed = configSchema.safeParse(interpolated, { reportInput: true });
  if (!parsed.success) {
    // A key whose variable is unset already has its error; its schema error is noise.
    const unset = new Set(errors.map((e) => e.slice(0, e.indexOf(': '))));
    errors.push(...formatIssues(parsed.error.issues).filter((e) => !unset.has(e.slice(0, e.indexOf(': ')))));
  }
  if (errors.length > 0 || !parsed.success) return { errors };
  const config = resolveFiles(parsed.data, base);
  checkReadable(config, errors);
  return errors.length > 0 ? { errors } : { config, errors };
}

export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, file, errors: [`(file): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  const { config, errors } = parseConfig(text, process.cwd(), env);
  return config ? { ok: true, config, file } : { ok: false, errors, file };
}
