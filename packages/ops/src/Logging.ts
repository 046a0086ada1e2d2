/**
 * Structured logs: one JSON object per line (`LOG_FORMAT=json`), Effect's structured entry (`message`, `level`,
 * `timestamp`, `cause`, `annotations`, `spans`, `fiberId`) with the trace and span ids of the span the line was
 * logged in (`traceId`, `spanId`: the OpenTelemetry ids when tracing is on, so that a line finds its trace).
 * Inside a video's work the pipeline annotates its logs with the video's `channelId` and `videoId`, which the
 * entry carries under `annotations`.
 *
 * @since 0.1.0
 */
import { Context, Formatter, Logger, Tracer } from "effect"

/**
 * A log entry as one line of JSON: Effect's structured entry, plus `traceId` and `spanId` when the line was
 * logged inside a span.
 *
 * @category loggers
 */
export const formatJson: Logger.Logger<unknown, string> = Logger.make((options) => {
  const entry = Logger.formatStructured.log(options)
  const span = Context.getOrUndefined(options.fiber.context, Tracer.ParentSpan)
  return Formatter.formatJson(span === undefined ? entry : { ...entry, traceId: span.traceId, spanId: span.spanId })
})

/**
 * {@link formatJson} written to the console (`console.log` of the fiber's `Console`).
 *
 * @category loggers
 */
export const consoleJson: Logger.Logger<unknown, void> = Logger.withConsoleLog(formatJson)
