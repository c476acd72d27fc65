// What every error page and every JSON error must look like (shared by the HTTP-level
// and the browser tests of the error pages).
import { expect } from 'vitest';
import type { SimpleResponse } from './proxy.ts';

/** What Chromium sends for a top-level navigation typed into the address bar. */
export const NAVIGATION: Readonly<Record<string, string>> = Object.freeze({
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
  'sec-fetch-user': '?1',
});

/** Access-log vocabulary that must never reach a page unless showReasons is on. */
export const ACCESS_LOG_REASON_SAMPLES: readonly string[] = ['policy-deny', 'no-allow-matched', 'no-route', 'upstream-', 'token-', 'jwks', 'encoded-slash'];

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/** Asserts an HTML error page with the strict headers; returns its body. */
export function expectPage(res: SimpleResponse, status: number): string {
  expect(res.status).toBe(status);
  const h = res.headers;
  expect(h['content-type']).toBe('text/html; charset=utf-8');
  expect(h['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]{43}='; frame-ancestors 'none'; base-uri 'none'$/);
  expect(h['x-frame-options']).toBe('DENY');
  expect(h['referrer-policy']).toBe('no-referrer');
  expect(h['x-content-type-options']).toBe('nosniff');
  expect(h['cache-control']).toBe('no-store');
  expect(h['vary']).toMatch(/^Accept\b/);
  expect(h['content-length']).toBe(String(Buffer.byteLength(res.body)));
  const id = h['x-request-id'] as string;
  expect(id).toMatch(UUID);
  expect(res.body).toContain(`Request id: <code>${id}</code>`);
  expect(res.body).toMatch(/^<!doctype html><html lang="en">/);
  expect(res.body).toMatch(/<title>[^<]+\(\d{3}\)<\/title>/);
  expect(res.body).toContain('<main>');
  expect(res.body).toMatch(/<h1>[^<]+<\/h1>/);
  expect(Buffer.byteLength(res.body)).toBeLessThan(4096);
  return res.body;
}

/** Asserts the SPEC's JSON error body; returns it parsed. */
export function expectJsonError(res: SimpleResponse, status: number): { error: string; requestId: string } {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers['content-security-policy']).toBeUndefined();
  expect(res.headers['vary']).toMatch(/^Accept\b/);
  const json = JSON.parse(res.body) as { error: string; requestId: string };
  expect(Object.keys(json).sort()).toEqual(['error', 'requestId']);
  expect(json.requestId).toBe(res.headers['x-request-id']);
  return json;
}
