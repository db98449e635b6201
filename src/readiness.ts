/**
 * Readiness (`GET /ready`): whether this instance should be sent new streams. Each part of the relay
 * that can make it unready adds a named check (draining, upstream configured, stream cap; Redis and
 * the upstream pool add theirs); the answer names every check that failed.
 */

/** One check's answer; `detail` says why it is not ready (shown to the operator, never a secret). */
export interface CheckResult {
  readonly ok: boolean;
  readonly detail?: string;
}

export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

export interface ReadinessReport {
  readonly ready: boolean;
  /** Names of the checks that failed, in the order they were added. */
  readonly not_ready: readonly string[];
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** A check that has not answered by then counts as failed, so a hung dependency cannot hang /ready. */
const CHECK_TIMEOUT_MS = 1000;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  /** Adds (or replaces) the check called `name`. */
  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => [name, await runCheck(check)] as const),
    );
    const checks: Record<string, CheckResult> = {};
    const notReady: string[] = [];
    for (const [name, result] of entries) {
      checks[name] = result;
      if (!result.ok) notReady.push(name);
    }
    return { ready: notReady.length === 0, not_ready: notReady, checks };
  }
}

async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<CheckResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : 'check failed' };
  } finally {
    clearTimeout(timer);
  }
}
