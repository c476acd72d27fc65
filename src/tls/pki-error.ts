// The one error type of the dev PKI. `code` is stable so the CLI (and tests) can tell
// "refusing to overwrite" from "bad SPIFFE ID" without matching on message text.

import { ZtError } from '../basics/errors.ts';

export type PkiErrorCode =
  | 'pki-file-exists' // a target file is already there and force was not given
  | 'pki-ca-missing' // ca.crt / ca.key not found in the directory
  | 'pki-invalid-ca' // the CA files are unreadable, mismatched or not a usable CA
  | 'pki-invalid-spiffe-id'
  | 'pki-invalid-option';

export class PkiError extends ZtError {
  declare readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'PkiError';
  }
}
