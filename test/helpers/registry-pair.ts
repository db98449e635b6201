/**
 * Two prom-client registries side by side, for tests that compare a metric the relay tallies
 * itself with prom-client's own fed the same values: `reference` holds prom-client's, `tallied`
 * ours; both print the same content type (OpenMetrics when asked).
 */
import { Registry, type RegistryContentType } from 'prom-client';

export function registryPair(openMetrics = false): {
  reference: Registry<RegistryContentType>;
  tallied: Registry<RegistryContentType>;
} {
  const reference = new Registry<RegistryContentType>();
  const tallied = new Registry<RegistryContentType>();
  if (openMetrics) {
    reference.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    tallied.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  }
  return { reference, tallied };
}
