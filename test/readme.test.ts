import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../src/config.js';
import { ERROR_CODES, errorInfo } from '../src/core/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README tells the truth', () => {
  it('lists every error code with its HTTP status and WebSocket close code', () => {
    for (const code of ERROR_CODES) {
      const info = errorInfo(code);
      expect(readme).toContain(
        `| \`${code}\` | ${info.status} | ${info.wsClose} | ${info.retryable ? 'yes' : 'no'} |`,
      );
    }
  });

  it('lists every setting with its environment variable and default', () => {
    for (const setting of Object.values(SETTINGS)) {
      const shown = setting.default === '' ? '—' : `\`${setting.default}\``;
      expect(readme).toContain(`| \`${setting.env}\` | ${shown} |`);
    }
  });

  it('starts with the two commands a newcomer needs', () => {
    const head = readme.slice(0, 1200);
    expect(head).toContain('npm ci && npm start');
    expect(head).toContain('npm run test:setup && npm test');
  });

  it('runs the CLI the way that works (node bin/relay.js or a linked relay), never `npx relay`', () => {
    // `npx relay` runs an unrelated registry package named relay (npm does not run a project's own bin).
    expect(readme).not.toMatch(/^\s*npx relay\b/m);
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.bin).toEqual({ relay: 'bin/relay.js' });
    const commands = [...readme.matchAll(/^\s*(?:node bin\/relay\.js|npm link && relay) (\S+)/gm)].map(
      (m) => m[1],
    );
    expect(commands.length).toBeGreaterThan(2);
    for (const command of commands)
      expect(['serve', 'simulate-upstream', 'chat', 'bench', 'keys']).toContain(command);
  });

  it('sets up tests with the one script that CI runs too, and names the opt-out variable', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
    expect(pkg.scripts['test:setup']).toBe('bash scripts/setup-test-deps.sh');
    expect(ci).toContain('bash scripts/setup-test-deps.sh');
    expect(readme.slice(0, 2000)).toContain('RELAY_TEST_SKIP=chromium,redis,nginx');
  });
});
