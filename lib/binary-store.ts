import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

// Agent binaries on S3, content-addressed: agents/<agent_id>/<sha256>.wasm. A new upload never
// overwrites an old one, so every version an agent ever shipped stays addressable.

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export class BinaryHashMismatch extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`binary ${key} hashes to ${actual}, expected ${expected}`);
    this.name = 'BinaryHashMismatch';
  }
}

export interface BinaryStore {
  readonly bucket: string;
  keyFor(agentId: string, sha256: string): string;
  urlFor(key: string): string;
  keyOf(url: string): string;
  put(agentId: string, bytes: Uint8Array, sha256: string): Promise<{ key: string; url: string }>;
  /** A user's verifier module (acceptance checks), at verifiers/<verifier_id>/<sha256>.wasm. */
  putVerifier(verifierId: string, bytes: Uint8Array, sha256: string): Promise<{ key: string; url: string }>;
  /** The object's bytes, refused unless they hash to `expectedSha256`. */
  get(key: string, expectedSha256: string): Promise<Buffer>;
}

export function createBinaryStore(s3: S3Client, bucket: string): BinaryStore {
  const prefix = `s3://${bucket}/`;
  return {
    bucket,
    keyFor: (agentId, sha256) => `agents/${agentId}/${sha256}.wasm`,
    urlFor: (key) => `${prefix}${key}`,
    keyOf(url) {
      if (!url.startsWith(prefix)) throw new Error(`binary url ${url} is not in bucket ${bucket}`);
      return url.slice(prefix.length);
    },
    async put(agentId, bytes, sha256) {
      const key = this.keyFor(agentId, sha256);
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: bytes,
          ContentType: 'application/wasm',
          Metadata: { sha256, agent: agentId },
        }),
      );
      return { key, url: this.urlFor(key) };
    },
    async putVerifier(verifierId, bytes, sha256) {
      const key = `verifiers/${verifierId}/${sha256}.wasm`;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentType: 'application/wasm', Metadata: { sha256, verifier: verifierId } }));
      return { key, url: this.urlFor(key) };
    },
    async get(key, expectedSha256) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = Buffer.from(await res.Body!.transformToByteArray());
      const actual = sha256Hex(bytes);
      if (actual !== expectedSha256) throw new BinaryHashMismatch(key, expectedSha256, actual);
      return bytes;
    },
  };
}
