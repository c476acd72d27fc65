// Checks that a path written in a policy is in the canonical form the pipeline hands
// the engine (src/pipeline/canonical.ts: unreserved characters decoded, other escapes
// with upper-case hex, dot segments resolved, repeated slashes merged, no `;`). Paths
// are compared as-is, so a policy path outside that form could never match: harmless
// in an allow, but a deny on `/admin/./x` or `/%61dmin` would silently protect nothing.

const RAW = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/") {
  RAW[c.charCodeAt(0)] = 1;
}
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Why `path` can never equal a canonical request path, or undefined when it can. */
export function canonicalPathProblem(path: string, options: { allowStar: boolean }): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path.includes('//')) return 'must not contain "//" (request paths have repeated slashes merged)';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i] as string;
    if (ch === '*' && !options.allowStar) return '"*" is matched literally here; use glob for wildcards';
    if (ch === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return `bad percent-encoding at "${path.slice(i, i + 3)}"`;
      if (hex !== hex.toUpperCase()) return `write "%${hex}" with upper-case hex, as request paths are`;
      const decoded = String.fromCharCode(Number.parseInt(hex, 16));
      if (UNRESERVED.test(decoded)) return `write "%${hex}" as "${decoded}": request paths have it decoded`;
      if (hex === '00') return '"%00" never reaches the policy (such requests are refused)';
      i += 2;
      continue;
    }
    const code = path.charCodeAt(i);
    if (code >= 128 || RAW[code] !== 1) {
      return `character ${JSON.stringify(ch)} never appears raw in a request path${code >= 128 || code <= 32 ? '; percent-encode it' : ''}`;
    }
  }
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments (request paths have them resolved)';
  }
  return undefined;
}
