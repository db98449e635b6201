/**
 * URL-safe random tokens (stream and conversation ids) cut from a pool of CSPRNG bytes refilled
 * 4 KiB at a time: one call into the CSPRNG per 256 ids rather than one per id. Each such call
 * also asks the kernel for the process id (OpenSSL's fork check), a syscall on every stream start.
 * Every pooled byte is handed out once.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `bytes` random bytes as base64url (16 bytes: 22 characters, 128 bits). */
export function randomToken(bytes: number): string {
  if (bytes > POOL_BYTES) return randomBytes(bytes).toString('base64url');
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const token = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return token;
}
