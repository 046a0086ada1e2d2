/**
 * @ytempire/ops — the operations side of the platform (issue #6): Prometheus metrics at `/metrics` (this
 * module's `Prometheus`), the alert rules over them (`AlertRules`, exported by `ytempire alerts export`) and
 * OpenTelemetry tracing (`Tracing`), structured JSON logs carrying trace and span ids (`Logging`), with readiness
 * detail to come.
 *
 * @since 0.1.0
 */
export * as AlertRules from "./AlertRules.ts"
export * as Logging from "./Logging.ts"
export * as Prometheus from "./Prometheus.ts"
export * as Tracing from "./Tracing.ts"
