// HTML text for ztproxy's own small pages (error pages, the dev OP's login form, the demo
// app): every value that reaches a page is escaped, since names, claims and paths come
// from requests or from an IdP.

/** `&`, `<`, `>`, `"`, `'` as entities: safe in text and in quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
