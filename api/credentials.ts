import { hash, verify } from '@node-rs/argon2';
import { SignJWT, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../lib/config';

// Passwords: argon2id (the library's defaults follow OWASP's recommendation).
export const hashPassword = (password: string) => hash(password);
export const verifyPassword = (passwordHash: string, password: string) => verify(passwordHash, password);

// Agent API keys: 256 random bits, shown once; stored as SHA-256 (enough for keys this long).
export function generateApiKey(): { key: string; hash: string; prefix: string } {
  const key = `hk_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, 10) };
}
export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function createTokens(config: Pick<Config, 'JWT_SECRET' | 'JWT_ISSUER' | 'JWT_TTL_SECONDS'>) {
  const secret = new TextEncoder().encode(config.JWT_SECRET);
  // Tokens this process has verified, by their exact text, until they expire: a signed token's
  // claims cannot change, so a client that sends the same token again skips the HMAC check
  // (WebCrypto, about 0.1 ms a request). Expiry is still checked on every use; a deleted user
  // is refused by the user lookup that follows (api/auth.ts).
  const verified = new LRUCache<string, { sub: string; expiresAt: number }>({ max: 10_000 });
  return {
    async issue(userId: string): Promise<{ token: string; expiresIn: number }> {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(userId)
        .setIssuer(config.JWT_ISSUER)
        .setIssuedAt()
        .setExpirationTime(`${config.JWT_TTL_SECONDS}s`)
        .sign(secret);
      return { token, expiresIn: config.JWT_TTL_SECONDS };
    },
    /** The user id, or null for a bad, expired or foreign token. */
    async verify(token: string): Promise<string | null> {
      const known = verified.get(token);
      if (known && known.expiresAt > Date.now()) return known.sub;
      try {
        const { payload } = await jwtVerify(token, secret, { issuer: config.JWT_ISSUER, algorithms: ['HS256'] });
        if (payload.sub && payload.exp) verified.set(token, { sub: payload.sub, expiresAt: payload.exp * 1000 });
        return payload.sub ?? null;
      } catch {
        return null;
      }
    },
  };
}
export type Tokens = ReturnType<typeof createTokens>;
