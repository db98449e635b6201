/** What tracing needs to start (built from the config by `tracingSettings`). */
export interface TracingSettings {
  /** Where spans go: the OTLP/HTTP traces URL, `/v1/traces` included. */
  readonly tracesUrl: string;
  /** The spans' `service.name`. */
  readonly serviceName: string;
}
