/**
 * The metrics at `GET /metrics`, in the Prometheus text exposition format (0.0.4), without a key: every series
 * of the metric registry of the server's context. That is the runtime's (`PipelineMetrics`: videos, costs,
 * stages, provider attempts, budgets, YouTube quota, active channels), the GPU scheduler's (`GpuMetrics`), the
 * server's HTTP metrics and effect/cluster's own gauges.
 *
 * The output passes `promtool check metrics`: one `# HELP` and `# TYPE` per family (a metric without a
 * description gets its name as help), families sorted by name, label values escaped, histograms with
 * cumulative `_bucket{le}` series ending in `+Inf`, `_sum` and `_count`.
 *
 * `active_channels` is read at each scrape (one grouped count of the channel records), so that it is right
 * whichever process changed a channel.
 *
 * @since 0.1.0
 */
import { ChannelRepository, PipelineMetrics } from "@ytempire/runtime"
import { Context, Effect, Layer, Metric, Option } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/**
 * The content type of the text exposition format.
 *
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

const typeNames: Record<Metric.Metric.Type, string> = {
  Counter: "counter",
  Gauge: "gauge",
  Histogram: "histogram",
  Summary: "summary",
  Frequency: "counter"
}

const names = new Map<string, string>()

/** A metric name as Prometheus accepts it (`[a-zA-Z_:][a-zA-Z0-9_:]*`); ours already are. */
const metricName = (id: string): string => {
  let name = names.get(id)
  if (name === undefined) {
    name = id.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1")
    names.set(id, name)
  }
  return name
}

const labelName = (key: string): string => key.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([0-9])/, "_$1")

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** Attributes that describe the metric rather than select a series (effect's timers add `time_unit`). */
const notLabels: ReadonlySet<string> = new Set(["unit", "time_unit"])

const noAttributes: Metric.Metric.AttributeSet = {}
const labelCache = new WeakMap<object, string>()

/**
 * `a="x",b="y"` for a series' attributes; cached per attribute set (the registry keeps one object per series,
 * so a scrape formats each series' labels once in the process's life).
 */
const labelsOf = (attributes: Metric.Metric.AttributeSet | undefined): string => {
  const key = attributes ?? noAttributes
  let labels = labelCache.get(key)
  if (labels === undefined) {
    labels = Object.entries(key)
      .filter(([name]) => !notLabels.has(name))
      .map(([name, value]) => `${labelName(name)}="${escapeLabel(value)}"`)
      .join(",")
    labelCache.set(key, labels)
  }
  return labels
}

const braces = (labels: string): string => labels.length === 0 ? "" : `{${labels}}`

const withLabel = (labels: string, extra: string): string => `{${labels.length === 0 ? "" : `${labels},`}${extra}}`

const formatValue = (value: number | bigint): string =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isNaN(value)
    ? "NaN"
    : value === Number.POSITIVE_INFINITY
    ? "+Inf"
    : value === Number.NEGATIVE_INFINITY
    ? "-Inf"
    : String(value)

const formatSeries = (
  lines: Array<string>,
  name: string,
  metadata: Metric.Metric.Metadata<unknown, unknown>,
  context: Context.Context<never>
): void => {
  const labels = labelsOf(metadata.attributes)
  const state = metadata.hooks.get(context)
  switch (metadata.type) {
    case "Counter": {
      lines.push(`${name}${braces(labels)} ${formatValue((state as Metric.CounterState<number | bigint>).count)}`)
      return
    }
    case "Gauge": {
      lines.push(`${name}${braces(labels)} ${formatValue((state as Metric.GaugeState<number | bigint>).value)}`)
      return
    }
    case "Histogram": {
      const histogram = state as Metric.HistogramState
      for (const [boundary, cumulative] of histogram.buckets) {
        if (boundary === Number.POSITIVE_INFINITY) continue
        lines.push(`${name}_bucket${withLabel(labels, `le="${formatValue(boundary)}"`)} ${cumulative}`)
      }
      lines.push(`${name}_bucket${withLabel(labels, "le=\"+Inf\"")} ${histogram.count}`)
      lines.push(`${name}_sum${braces(labels)} ${formatValue(histogram.sum)}`)
      lines.push(`${name}_count${braces(labels)} ${histogram.count}`)
      return
    }
    case "Summary": {
      const summary = state as Metric.SummaryState
      for (const [quantile, value] of summary.quantiles) {
        if (value === undefined) continue
        lines.push(`${name}${withLabel(labels, `quantile="${formatValue(quantile)}"`)} ${formatValue(value)}`)
      }
      lines.push(`${name}_sum${braces(labels)} ${formatValue(summary.sum)}`)
      lines.push(`${name}_count${braces(labels)} ${summary.count}`)
      return
    }
    case "Frequency": {
      for (const [word, count] of (state as Metric.FrequencyState).occurrences) {
        lines.push(`${name}${withLabel(labels, `key="${escapeLabel(word)}"`)} ${count}`)
      }
      return
    }
  }
}

/**
 * Every series of the metric registry of `context`, in the text exposition format.
 *
 * **Gotchas**: a name registered with two types, or one series registered twice under two descriptions, is
 * written once, as first registered (Prometheus refuses a family with two types or a repeated series).
 *
 * @category formatting
 */
export const render = (context: Context.Context<never>): string => {
  const families = new Map<string, Array<Metric.Metric.Metadata<unknown, unknown>>>()
  for (const metadata of Context.get(context, Metric.MetricRegistry).values()) {
    const name = metricName(metadata.id)
    const family = families.get(name)
    if (family === undefined) families.set(name, [metadata])
    else if (family[0]!.type === metadata.type) family.push(metadata)
  }
  const lines: Array<string> = []
  for (const name of [...families.keys()].toSorted()) {
    const family = families.get(name)!
    const first = family[0]!
    lines.push(`# HELP ${name} ${escapeHelp(first.description ?? name)}`)
    lines.push(`# TYPE ${name} ${typeNames[first.type]}`)
    const seen = new Set<string>()
    for (const metadata of family) {
      const labels = labelsOf(metadata.attributes)
      if (seen.has(labels)) continue
      seen.add(labels)
      formatSeries(lines, name, metadata, context)
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/**
 * `GET /metrics`: refreshes the gauges read at scrape time (`active_channels`, when the context has a channel
 * repository), then answers {@link render} of the request's context.
 *
 * @category layers
 */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.use(
  Effect.fnUntraced(function*(router) {
    const channels = yield* Effect.serviceOption(ChannelRepository.ChannelRepository)
    const refresh = Option.match(channels, {
      onNone: () => Effect.void,
      onSome: (repository) => Effect.flatMap(repository.countByStatus(), PipelineMetrics.refreshActiveChannels)
    })
    yield* router.add(
      "GET",
      "/metrics",
      Effect.gen(function*() {
        yield* refresh
        const context = yield* Effect.context<never>()
        return HttpServerResponse.text(render(context), { contentType })
      })
    )
  })
)
