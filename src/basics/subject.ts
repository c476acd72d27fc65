/** Who made the request, as authentication proved it. Immutable; built once per verified token/session. */
export interface Subject {
  readonly source: 'bearer' | 'session';
  readonly issuer: string;
  readonly sub: string;
  readonly email: string | undefined;
  readonly emailVerified: boolean;
  readonly groups: readonly string[];
  /** All claims of the token (for `claim` rules and the assertion). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Epoch seconds of the login (`auth_time`), if the token says. */
  readonly authTime: number | undefined;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
}
