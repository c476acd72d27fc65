// Demo accounts of the development OpenID Provider. The passwords are public on
// purpose: the demo prints them so a person can log in through a browser. Nothing
// here is meant for a real deployment.

export interface DemoUser {
  /** Login name typed into the form; also the OIDC `sub`. */
  readonly username: string;
  readonly password: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
}

export const DEMO_USERS: readonly DemoUser[] = Object.freeze([
  Object.freeze({
    username: 'alice',
    password: 'alice-dev-password',
    name: 'Alice Example',
    email: 'alice@example.com',
    groups: Object.freeze(['engineering', 'admins']),
  }),
  Object.freeze({
    username: 'bob',
    password: 'bob-dev-password',
    name: 'Bob Example',
    email: 'bob@example.com',
    groups: Object.freeze(['sales']),
  }),
]);
