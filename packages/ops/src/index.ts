/**
 * @ytempire/ops — the operations side of the platform (issue #6): Prometheus metrics at `/metrics` (this
 * module's `Prometheus`) and the alert rules over them (`AlertRules`, exported by `ytempire alerts export`), with
 * tracing and readiness detail to come.
 *
 * @since 0.1.0
 */
export * as AlertRules from "./AlertRules.ts"
export * as Prometheus from "./Prometheus.ts"
