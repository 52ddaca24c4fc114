import { type Secrets, newIssuerKey } from '../../reference-services/shared/secrets.ts';

/**
 * The secrets of another issuer, built from a service's: a key pair of its own, and no file
 * (a service re-reads its issuer keys from its file, which would give ours back).
 */
export function anotherIssuer(secrets: Secrets): Secrets {
  const { file: _ours, ...elsewhere } = secrets;
  const key = newIssuerKey();
  return { ...elsewhere, issuerKeys: [key], currentIssuerKid: key.kid };
}
