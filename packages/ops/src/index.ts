/**
 * @ytempire/ops — Health, Prometheus metrics, OpenTelemetry tracing and alert rules (issue #6).
 *
 * The package exists so that the workspace, its project references and the direction of dependencies
 * (domain ← gpu ← runtime ← ops ← server) are in place; its modules arrive with the issue above.
 *
 * @since 0.1.0
 */
export {}
