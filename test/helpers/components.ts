/**
 * The system components some suites drive (Chromium, redis-server, nginx): where their binary is,
 * and what a suite does when one is missing.
 *
 * A missing component FAILS the suite that needs it, with the command that installs it; it never
 * skips silently. Only an explicit opt-out skips: `RELAY_TEST_SKIP=chromium,redis,nginx` (any
 * subset), and the run's summary then names what was skipped (test/global-setup.ts).
 *
 * ```ts
 * const CHROMIUM = requireComponent('chromium'); // path, or undefined when opted out
 * describe.skipIf(!CHROMIUM)('…', () => { … chromium.launch({ executablePath: CHROMIUM }) … });
 * ```
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const COMPONENTS = {
  chromium: {
    package: 'chromium',
    binaries: ['chromium', 'chromium-browser'],
    usedBy: 'the demo page tests',
  },
  redis: { package: 'redis-server', binaries: ['redis-server'], usedBy: 'the Redis store tests' },
  nginx: { package: 'nginx', binaries: ['nginx'], usedBy: 'the load-balancer (nginx) tests' },
} as const;

export type ComponentName = keyof typeof COMPONENTS;

/** The variable that opts components out of the suite; the README names it. */
export const SKIP_VARIABLE = 'RELAY_TEST_SKIP';

/** The one command that installs every component (scripts/setup-test-deps.sh). */
export const SETUP_COMMAND = 'npm run test:setup';

const isComponent = (name: string): name is ComponentName => Object.hasOwn(COMPONENTS, name);

/**
 * The components `RELAY_TEST_SKIP` opts out of. An unknown name throws: a typo must not turn
 * into a suite that runs everything while its author believes something was skipped, or the reverse.
 */
export function skippedComponents(env: NodeJS.ProcessEnv = process.env): ComponentName[] {
  const names = (env[SKIP_VARIABLE] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !isComponent(name));
  if (unknown.length > 0) {
    throw new Error(
      `${SKIP_VARIABLE} names unknown component(s) ${unknown.join(', ')}; known: ${Object.keys(COMPONENTS).join(', ')}`,
    );
  }
  return [...new Set(names as ComponentName[])];
}

/** PATH, then /usr/sbin and /usr/bin (nginx lives in /usr/sbin, which is not on a normal user's PATH). */
export function searchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...(env.PATH ?? '').split(delimiter).filter((dir) => dir !== ''), '/usr/sbin', '/usr/bin'];
}

/** Where a component's binary is: the first of its binary names found in `dirs`. */
export function findComponent(
  name: ComponentName,
  dirs: readonly string[] = searchDirs(),
): string | undefined {
  for (const binary of COMPONENTS[name].binaries) {
    for (const dir of dirs) {
      const path = join(dir, binary);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not here; try the next directory
      }
    }
  }
  return undefined;
}

/** The line the run's summary ends with when components were skipped on purpose; empty when none were. */
export function skipSummary(skipped: readonly ComponentName[]): string {
  if (skipped.length === 0) return '';
  const names = skipped.map((name) => `${name} (${COMPONENTS[name].usedBy})`).join(', ');
  return `SKIPPED on purpose by ${SKIP_VARIABLE}: ${names}`;
}

/** The message a suite fails with when a component it needs is missing. */
export function missingMessage(name: ComponentName): string {
  const component = COMPONENTS[name];
  return (
    `${name} is missing (needed by ${component.usedBy}). Install it with \`${SETUP_COMMAND}\` ` +
    `(Debian: apt-get install -y ${component.package}), or skip its tests on purpose with ` +
    `${SKIP_VARIABLE}=${name}.`
  );
}

/**
 * A component's binary path for a suite that needs it. Returns `undefined` only when the component
 * is opted out with `RELAY_TEST_SKIP` (the suite then skips, and the summary says so); throws with
 * the install command when it is missing, so the suite fails instead of passing without running.
 */
export function requireComponent(
  name: ComponentName,
  env: NodeJS.ProcessEnv = process.env,
  dirs: readonly string[] = searchDirs(env),
): string | undefined {
  if (skippedComponents(env).includes(name)) return undefined;
  const path = findComponent(name, dirs);
  if (path === undefined) throw new Error(missingMessage(name));
  return path;
}
