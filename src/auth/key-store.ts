/**
 * The relay keys a running relay accepts: the keys file (re-read when it changes, so `relay keys
 * add|revoke` needs no restart) plus the quick `RELAY_API_KEYS` form. A file that does not parse
 * at start stops the relay; a reload that fails keeps the previous keys and logs why.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Limits } from '../core/principal.js';
import { NO_LIMITS } from '../core/principal.js';
import type { Logger } from '../logger.js';
import { hashKey, JWT_ENTRY_ID, type KeyEntry, parseKeysFile } from './keys-file.js';

export interface KeyStoreOptions {
  /** The keys file; '' for none. */
  readonly file: string;
  /** `id:secret` pairs (RELAY_API_KEYS), no limits. */
  readonly quickKeys: readonly string[];
  readonly logger?: Logger | undefined;
  /** How often the file's mtime is checked (fs.watchFile polls: it survives editors' rename-on-save). */
  readonly pollMs?: number;
}

interface Snapshot {
  readonly byHash: ReadonlyMap<string, KeyEntry>;
  readonly byId: ReadonlyMap<string, KeyEntry>;
}

export class KeyStore {
  private snapshot: Snapshot;
  private readonly options: KeyStoreOptions;
  private readonly quick: readonly KeyEntry[];
  private watching = false;

  /** Reads the file now; throws (naming the line) if it does not parse. */
  constructor(options: KeyStoreOptions) {
    this.options = options;
    this.quick = options.quickKeys.map(parseQuickKey);
    this.snapshot = this.build(options.file === '' ? [] : this.readFile());
  }

  /** Whether any key (or the file itself) is configured: then requests need credentials. */
  get configured(): boolean {
    return this.options.file !== '' || this.quick.length > 0;
  }

  /** The entry whose key hashes to the given secret's hash, if any. */
  lookup(secret: string): KeyEntry | undefined {
    return this.snapshot.byHash.get(hashKey(secret));
  }

  /** The entry with this id, if it is still in the file (tickets re-check their key on use). */
  byId(id: string): KeyEntry | undefined {
    return this.snapshot.byId.get(id);
  }

  /** Limits for JWT principals: those of the entry with id `jwt`, none if absent. */
  get jwtLimits(): Limits {
    return this.snapshot.byId.get(JWT_ENTRY_ID)?.limits ?? NO_LIMITS;
  }

  /** Starts following the file's changes (no-op without a file). */
  watch(): void {
    if (this.options.file === '' || this.watching) return;
    this.watching = true;
    watchFile(this.options.file, { interval: this.options.pollMs ?? 1000, persistent: false }, this.onChange);
  }

  /** Re-reads the file now; on failure keeps the previous keys and logs why. Answers whether it took. */
  reload(): boolean {
    try {
      this.snapshot = this.build(this.readFile());
      this.options.logger?.info({ keys: this.snapshot.byId.size }, 'relay keys reloaded');
      return true;
    } catch (err) {
      this.options.logger?.error(
        { reason: (err as Error).message },
        'keys file reload failed; the previous keys stay in force',
      );
      return false;
    }
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.options.file, this.onChange);
  }

  private readonly onChange = (): void => {
    this.reload();
  };

  private readFile(): KeyEntry[] {
    let text: string;
    try {
      text = readFileSync(this.options.file, 'utf8');
    } catch (err) {
      throw new Error(
        `keys file ${this.options.file}: cannot read it (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    return parseKeysFile(text, this.options.file);
  }

  private build(fromFile: readonly KeyEntry[]): Snapshot {
    const byHash = new Map<string, KeyEntry>();
    const byId = new Map<string, KeyEntry>();
    for (const entry of [...fromFile, ...this.quick]) {
      if (byId.has(entry.id)) throw new Error(`relay key id "${entry.id}" is configured twice`);
      byId.set(entry.id, entry);
      if (entry.keySha256 !== undefined) byHash.set(entry.keySha256, entry);
    }
    return { byHash, byId };
  }
}

function parseQuickKey(pair: string, index: number): KeyEntry {
  const colon = pair.indexOf(':');
  const id = colon === -1 ? '' : pair.slice(0, colon);
  const secret = colon === -1 ? '' : pair.slice(colon + 1);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id) || secret.length < 8) {
    throw new Error(
      `RELAY_API_KEYS item ${index + 1}: write id:secret (id of letters, digits, ".", "_", "-"; secret of at least 8 characters)`,
    );
  }
  return { id, keySha256: hashKey(secret), limits: NO_LIMITS };
}
