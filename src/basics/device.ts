// The device a request comes from, as a verified device-posture assertion (SPEC §6)
// describes it: built once per verified assertion by identity/posture, read by the
// `device` policy criterion, the remote-PDP input, the identity assertion and the audit
// log. A field the assertion did not carry is undefined — unknown, never "false".

/** The `posture` claim of an assertion (SPEC §6), each field only if the issuer sent it. */
export interface DevicePosture {
  readonly managed: boolean | undefined;
  readonly compliant: boolean | undefined;
  readonly os: { readonly name: string | undefined; readonly version: string | undefined } | undefined;
  /** Days since the last OS patch. */
  readonly patchAgeDays: number | undefined;
  readonly diskEncrypted: boolean | undefined;
  readonly firewall: boolean | undefined;
  readonly edr: boolean | undefined;
  readonly screenLock: boolean | undefined;
}

/** A verified device: who vouched for it, which device, and what it reported. Immutable. */
export interface Device {
  /** The assertion's `iss` (the device-trust issuer). */
  readonly issuer: string;
  /** The assertion's `sub`: the device id. */
  readonly id: string;
  /** Epoch seconds. */
  readonly issuedAt: number;
  /** Epoch seconds. */
  readonly expiresAt: number;
  readonly posture: DevicePosture;
}
