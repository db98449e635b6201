/**
 * JWTs issued by the application's own auth ("bring your own identity"), checked with `jose`:
 * HS256 with RELAY_JWT_SECRET, or RS256 / ES256 / ES384 / ES512 / EdDSA with the PEM public key in
 * RELAY_JWT_PUBLIC_KEY. Exactly one algorithm is accepted (the key's), so `alg: none` and
 * algorithm-confusion tokens are refused; `exp` and `sub` are required.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';
import { RelayError } from '../core/errors.js';

export class JwtVerifier {
  private readonly key: KeyObject;
  private readonly algorithm: string;

  private constructor(key: KeyObject, algorithm: string) {
    this.key = key;
    this.algorithm = algorithm;
  }

  /** From the settings; undefined when neither is set. Throws on a key that cannot be used. */
  static fromSettings(secret: string, publicKey: string): JwtVerifier | undefined {
    if (secret !== '' && publicKey !== '') {
      throw new Error('set RELAY_JWT_SECRET or RELAY_JWT_PUBLIC_KEY, not both');
    }
    if (secret !== '') {
      if (secret.length < 32) throw new Error('RELAY_JWT_SECRET must be at least 32 characters (HS256)');
      return new JwtVerifier(createSecretKey(Buffer.from(secret)), 'HS256');
    }
    if (publicKey === '') return undefined;
    const pem = publicKey.includes('-----BEGIN') ? publicKey : readPem(publicKey);
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new Error(`RELAY_JWT_PUBLIC_KEY is not a PEM public key (${(err as Error).message})`);
    }
    return new JwtVerifier(key, algorithmOf(key));
  }

  /** The token's `sub`; throws `unauthorized` for anything else. */
  async verify(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [this.algorithm],
        requiredClaims: ['exp', 'sub'],
      });
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub === '' || sub.length > 256) throw new Error('bad sub');
      return sub;
    } catch {
      throw new RelayError(
        'unauthorized',
        'the token is not a valid relay key or JWT (expired, wrong key or algorithm)',
      );
    }
  }
}

function readPem(path: string): string {
  if (!existsSync(path))
    throw new Error(`RELAY_JWT_PUBLIC_KEY: neither PEM text nor a readable file (${path})`);
  return readFileSync(path, 'utf8');
}

function algorithmOf(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ES256';
      if (curve === 'secp384r1') return 'ES384';
      if (curve === 'secp521r1') return 'ES512';
      throw new Error(`RELAY_JWT_PUBLIC_KEY: unsupported EC curve ${curve ?? '?'}`);
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new Error(`RELAY_JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType ?? '?'}`);
  }
}
