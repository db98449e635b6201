/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and lists where the time went: the top
 * functions by self time, and self time per module (a package, a node internal, a relay file).
 *
 *     node dist/bench/profile.js /tmp/relay-prof/CPU.…cpuprofile [N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly file: string;
  /** The bench scenario it was taken in (set by the bench). */
  scenario?: string;
  /** Busy (non-idle) time sampled. */
  readonly totalMs: number;
  readonly top: readonly { fn: string; where: string; selfMs: number; pct: number }[];
  readonly byModule: readonly { module: string; selfMs: number; pct: number }[];
}

/** `node_modules/<pkg>`, `node:<internal>`, a file of ours, or a V8 pseudo-frame. */
function moduleOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm?.[1] !== undefined) return nm[1];
  if (url.startsWith('node:internal/deps/')) return url.split('/').slice(0, 3).join('/');
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const ours = /\/dist\/(.+)$/.exec(url);
  return ours?.[1] ?? url;
}

function shortWhere(url: string, line: number): string {
  if (url === '') return '';
  const nm = /node_modules\/(.+)$/.exec(url);
  const dist = /\/dist\/(.+)$/.exec(url);
  return `${nm?.[1] ?? dist?.[1] ?? url}:${line + 1}`;
}

export function summarizeProfile(file: string, topN = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    // Idle samples are the process waiting: not CPU, left out of every share.
    if (byId.get(id)?.callFrame.functionName === '(idle)') return;
    const dt = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  const modules = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const fn = functionName === '' ? '(anonymous)' : functionName;
    const key = `${fn}@${url}:${lineNumber}`;
    const entry = fns.get(key) ?? { fn, where: shortWhere(url, lineNumber), us: 0 };
    entry.us += us;
    fns.set(key, entry);
    const mod = moduleOf(url, fn);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((us / Math.max(1, total)) * 1000) / 10;
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    file,
    totalMs: ms(total),
    top: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ fn: e.fn, where: e.where, selfMs: ms(e.us), pct: pct(e.us) })),
    byModule: [...modules.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([module, us]) => ({ module, selfMs: ms(us), pct: pct(us) })),
  };
}

/** The newest `.cpuprofile` in `dir` written after `sinceMs`, if any. */
export function newestProfile(dir: string, sinceMs: number): string | undefined {
  let best: { file: string; mtime: number } | undefined;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!name.endsWith('.cpuprofile')) continue;
    const file = join(dir, name);
    const mtime = statSync(file).mtimeMs;
    if (mtime >= sinceMs && (best === undefined || mtime > best.mtime)) best = { file, mtime };
  }
  return best?.file;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, n] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile.js FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  const s = summarizeProfile(file, Number(n ?? 25));
  process.stdout.write(`${s.file}: ${s.totalMs} ms busy sampled\n\nself ms   %     function (where)\n`);
  for (const t of s.top)
    process.stdout.write(
      `${String(t.selfMs).padStart(8)} ${String(t.pct).padStart(5)}  ${t.fn} (${t.where})\n`,
    );
  process.stdout.write('\nself ms   %     module\n');
  for (const m of s.byModule)
    process.stdout.write(`${String(m.selfMs).padStart(8)} ${String(m.pct).padStart(5)}  ${m.module}\n`);
}
