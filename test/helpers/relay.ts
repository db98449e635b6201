/** Starts a real relay on 127.0.0.1:0 with zero-delay pacing, on the in-process simulated upstream. */
import { type SettingName, type SettingValue, testConfig } from '../../src/config.js';
import type { Upstream } from '../../src/core/upstream.js';
import { type RelayServer, startRelay } from '../../src/server.js';

export type TestOverrides = Partial<Record<SettingName, SettingValue>>;

export async function startTestRelay(
  overrides: TestOverrides = {},
  upstream?: Upstream,
): Promise<RelayServer> {
  return startRelay(testConfig({ host: '127.0.0.1', port: 0, ...overrides }), upstream ? { upstream } : {});
}
