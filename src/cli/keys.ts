/**
 * `relay keys add|list|revoke`: manages the relay keys file (RELAY_KEYS_FILE or --file). A new key
 * is printed once and only its SHA-256 is written; a running relay picks the change up by itself.
 * Writes go to a temporary file renamed over the old one, so the relay never reads half a file.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  formatKeysFile,
  hashKey,
  JWT_ENTRY_ID,
  type KeyEntry,
  newKey,
  parseKeysFile,
  toJson,
} from '../auth/keys-file.js';
import type { Limits } from '../core/principal.js';

export const KEYS_HELP = `relay keys — manage relay keys (the keys file the relay reloads on change)

Usage:
  relay keys add <id> [--concurrent N] [--rpm N] [--tpm N] [--max-tokens N] [--models 'claude-*,…']
  relay keys list
  relay keys revoke <id>

Flags:
  --file PATH   the keys file (env RELAY_KEYS_FILE)
  -h, --help    this text

"add" prints the new key once (rk_…); only its SHA-256 is stored. "add jwt" (no key printed)
sets the limits of JWT principals. Limits: --concurrent (streams at once), --rpm (requests per
minute), --tpm (tokens per minute), --max-tokens (cap per request), --models (globs).
`;

export async function runKeys(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      file: { type: 'string' },
      concurrent: { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'max-tokens': { type: 'string' },
      models: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [action, id] = positionals;
  if (values.help || action === undefined) {
    process.stdout.write(KEYS_HELP);
    return values.help ? 0 : 2;
  }
  const file = values.file ?? env.RELAY_KEYS_FILE ?? '';
  if (file === '') return fail('no keys file: pass --file PATH or set RELAY_KEYS_FILE');
  const entries = existsSync(file) ? parseKeysFile(readFileSync(file, 'utf8'), file) : [];

  switch (action) {
    case 'list':
      for (const e of entries) {
        process.stdout.write(`${e.id}\t${JSON.stringify(toJson(e.limits))}\n`);
      }
      return 0;
    case 'add': {
      if (id === undefined) return fail('add needs an id: relay keys add <id>');
      if (entries.some((e) => e.id === id)) return fail(`key "${id}" exists; revoke it first`);
      let limits: Limits;
      try {
        limits = limitsFrom(values);
      } catch (err) {
        return fail((err as Error).message);
      }
      const secret = id === JWT_ENTRY_ID ? undefined : newKey();
      const entry: KeyEntry = { id, ...(secret === undefined ? {} : { keySha256: hashKey(secret) }), limits };
      // Validate what we are about to write with the same parser the relay uses.
      const text = formatKeysFile([...entries, entry]);
      parseKeysFile(text, file);
      write(file, text);
      if (secret !== undefined) process.stdout.write(`${secret}\n`);
      process.stderr.write(
        secret === undefined
          ? `limits for JWT principals written to ${file}\n`
          : `key "${id}" added to ${file}; the key above is shown only once\n`,
      );
      return 0;
    }
    case 'revoke': {
      if (id === undefined) return fail('revoke needs an id: relay keys revoke <id>');
      const kept = entries.filter((e) => e.id !== id);
      if (kept.length === entries.length) return fail(`no key "${id}" in ${file}`);
      write(file, formatKeysFile(kept));
      process.stderr.write(`key "${id}" revoked in ${file}\n`);
      return 0;
    }
    default:
      return fail(`unknown action "${action}"; use add, list or revoke`);
  }
}

function limitsFrom(values: Record<string, string | boolean | undefined>): Limits {
  const n = (flag: string): number | undefined => {
    const v = values[flag];
    if (typeof v !== 'string') return undefined;
    if (!/^\d+$/.test(v)) throw new Error(`--${flag} must be a whole number, not "${v}"`);
    return Number(v);
  };
  const models =
    typeof values.models === 'string'
      ? values.models
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean)
      : undefined;
  const concurrentStreams = n('concurrent');
  const requestsPerMinute = n('rpm');
  const tokensPerMinute = n('tpm');
  const maxTokens = n('max-tokens');
  return {
    ...(concurrentStreams === undefined ? {} : { concurrentStreams }),
    ...(requestsPerMinute === undefined ? {} : { requestsPerMinute }),
    ...(tokensPerMinute === undefined ? {} : { tokensPerMinute }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(models === undefined || models.length === 0 ? {} : { models }),
  };
}

function write(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

function fail(message: string): number {
  process.stderr.write(`relay keys: ${message}\n`);
  return 1;
}
