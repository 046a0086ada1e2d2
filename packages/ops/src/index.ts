/**
 * @ytempire/ops — the operations side of the platform (issue #6): Prometheus metrics at `/metrics` (this
 * module's `Prometheus`), with tracing, alert rules and readiness detail to come.
 *
 * @since 0.1.0
 */
export * as Prometheus from "./Prometheus.ts"
