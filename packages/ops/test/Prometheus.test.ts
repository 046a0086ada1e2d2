import { describe, expect, it } from "@effect/vitest"
import { Channel, Ids } from "@ytempire/domain"
import { Prometheus } from "@ytempire/ops"
import { ChannelRepository } from "@ytempire/runtime"
import { DateTime, Duration, Effect, Layer, Metric } from "effect"
import { HttpRouter } from "effect/http"
import { spawnSync } from "node:child_process"

/** `promtool check metrics` on `text`: its exit status and what it said. */
const promtool = (text: string) => {
  const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
  expect(result.error, "promtool must be installed (Debian's prometheus package)").toBeUndefined()
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() }
}

/** Renders the registry of an effect run with a fresh one. */
const renderOf = <E>(record: Effect.Effect<void, E>) =>
  Effect.gen(function*() {
    yield* record
    return Prometheus.render(yield* Effect.context<never>())
  }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

describe("Prometheus.render", () => {
  it.effect("writes every kind of series so that promtool accepts it", () =>
    Effect.gen(function*() {
      const text = yield* renderOf(Effect.gen(function*() {
        const requests = Metric.counter("requests_total", {
          description: "Requests\nwith \\ a newline",
          incremental: true
        })
        yield* Metric.update(Metric.withAttributes(requests, { path: "a \"quoted\" \\ value\nsplit" }), 2)
        yield* Metric.update(Metric.withAttributes(requests, { path: "/b" }), 1)
        // No description: the family still gets a help line.
        yield* Metric.update(Metric.gauge("unexplained_level"), Number.NaN)
        yield* Metric.update(
          Metric.gauge("big_number", { description: "A bigint", bigint: true }),
          12_345_678_901_234_567_890n
        )
        const latency = Metric.histogram("latency_seconds", {
          description: "Latency",
          boundaries: Metric.boundariesFromIterable([0.1, 1, 10])
        })
        yield* Metric.update(latency, 0.05)
        yield* Metric.update(latency, 5)
        yield* Metric.update(latency, 50)
        // effect's timers mark their unit with a `time_unit` attribute, which is no label.
        yield* Metric.update(Metric.timer("work_duration", { description: "Took" }), Duration.millis(3))
        // The same series under another description is one series, not two.
        yield* Metric.update(Metric.counter("requests_total", { description: "Other", incremental: true }), 1)
        yield* Metric.update(
          Metric.withAttributes(Metric.counter("requests_total", { description: "Other", incremental: true }), {
            path: "/b"
          }),
          1
        )
      }))
      expect(promtool(text)).toEqual({ status: 0, output: "" })
      const lines = text.trimEnd().split("\n")
      expect(lines).toContain("# HELP requests_total Requests\\nwith \\\\ a newline")
      expect(lines).toContain("requests_total{path=\"a \\\"quoted\\\" \\\\ value\\nsplit\"} 2")
      expect(lines.filter((line) => line.startsWith("requests_total{path=\"/b\"}"))).toEqual([
        "requests_total{path=\"/b\"} 1"
      ])
      expect(lines).toContain("# HELP unexplained_level unexplained_level")
      expect(lines).toContain("unexplained_level NaN")
      expect(lines).toContain("big_number 12345678901234567890")
      expect(lines.filter((line) => line.startsWith("latency_seconds"))).toEqual([
        "latency_seconds_bucket{le=\"0.1\"} 1",
        "latency_seconds_bucket{le=\"1\"} 1",
        "latency_seconds_bucket{le=\"10\"} 2",
        "latency_seconds_bucket{le=\"+Inf\"} 3",
        "latency_seconds_sum 55.05",
        "latency_seconds_count 3"
      ])
      expect(lines.some((line) => line.includes("time_unit"))).toBe(false)
      // Families in name order, each with one HELP and one TYPE.
      const families = lines.filter((line) => line.startsWith("# TYPE")).map((line) => line.split(" ")[2]!)
      expect(families).toEqual([
        "big_number",
        "latency_seconds",
        "requests_total",
        "unexplained_level",
        "work_duration"
      ])
      expect(lines.filter((line) => line.startsWith("# HELP"))).toHaveLength(families.length)
    }))

  it.effect("an empty registry is an empty exposition", () =>
    Effect.gen(function*() {
      expect(yield* renderOf(Effect.void)).toBe("")
    }))
})

describe("Prometheus.layer", () => {
  it.live("serves GET /metrics without a key, counting the active channels at each scrape", () =>
    Effect.gen(function*() {
      const repository = yield* ChannelRepository.ChannelRepository
      const epoch = DateTime.makeUnsafe(0)
      const channel = (id: string, status: Channel.ChannelStatus) =>
        new Channel.Channel({
          id: Ids.ChannelId.make(id),
          tenantId: Ids.TenantId.make(id === "c" ? "other" : "acme"),
          name: id,
          niche: "n",
          language: "en",
          style: "s",
          status,
          createdAt: epoch,
          updatedAt: epoch
        })
      const app = HttpRouter.toWebHandler(
        Prometheus.layer.pipe(Layer.provide(Layer.succeed(ChannelRepository.ChannelRepository)(repository))),
        { disableLogger: true }
      )
      const scrape = Effect.promise(async () => {
        const response = await app.handler(new Request("http://localhost/metrics"))
        return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
      })
      yield* repository.put(channel("a", "active"))
      yield* repository.put(channel("b", "paused"))
      // Another tenant's channel counts too: the gauge is the operation's.
      yield* repository.put(channel("c", "active"))
      const first = yield* scrape
      expect(first.status).toBe(200)
      expect(first.type).toBe(Prometheus.contentType)
      expect(first.text.split("\n")).toContain("active_channels 2")
      expect(promtool(first.text)).toEqual({ status: 0, output: "" })
      yield* repository.put(channel("b", "active"))
      expect((yield* scrape).text.split("\n")).toContain("active_channels 3")
      yield* Effect.promise(() => app.dispose())
    }).pipe(
      Effect.provide(ChannelRepository.ChannelRepository.layerMemory),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})
