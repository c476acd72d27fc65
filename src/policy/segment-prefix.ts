// Whole-segment prefix matching, shared by `path.prefix` and `spiffe.pathPrefix`
// (SPEC §7): `/api` covers `/api` and `/api/x` but never `/apix`. A plain startsWith
// would let `deny: {path: {prefix: /admin}}` pass `/administrator` and, worse, an allow
// for `/public` grant `/public-admin`.

/** Drops one trailing slash, so `/api/` and `/api` mean the same and `/` becomes ``. */
export function normalizeSegmentPrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

/** `prefix` must come from normalizeSegmentPrefix. Allocation-free. */
export function hasSegmentPrefix(value: string, prefix: string): boolean {
  return (
    value.startsWith(prefix) && (value.length === prefix.length || value.charCodeAt(prefix.length) === 47) // '/'
  );
}
