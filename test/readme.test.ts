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
    expect(head).toContain('npm test');
  });
});
