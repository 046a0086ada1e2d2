/**
 * The HTTP metrics of the server's one listener, recorded by router middleware for every request (RPC, REST,
 * health, `/metrics` itself):
 *
 * | metric | type | attributes |
 * | --- | --- | --- |
 * | `http_requests_total` | counter | `method`, `route`, `status` |
 * | `http_request_duration_seconds` | histogram (5 ms … 10 s) | `method`, `route` |
 *
 * `route` is the pattern of the route the request matched (`/api/v1/videos/:videoId`, `/rpc`, `/health`), or
 * `unmatched` for a path that matched none, never the request's URL: a series per URL would grow without bound.
 * `method` is one of the standard methods or `other`; `status` the response's status code (for a failure, the
 * status the server answers it with; 499 when the client went away first). The duration runs from the router
 * receiving the request to the handler producing the response (a streamed body may still be sending).
 *
 * **Gotchas**: {@link layer} must be provided to the route layers, not merely merged beside them: it installs
 * the global middleware that measures every request and the route middleware that names each request's route.
 * A route layer it is not provided to is measured, but as `unmatched`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Metric } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"

/**
 * Requests answered, per method, route pattern and status code.
 *
 * @category metrics
 */
export const requestsTotal = Metric.counter("http_requests_total", {
  description: "HTTP requests answered, per method, route pattern and status code",
  incremental: true
})

const durationBoundaries = Metric.boundariesFromIterable([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

/**
 * Seconds from a request reaching the router to its response, per method and route pattern.
 *
 * @category metrics
 */
export const requestDurationSeconds = Metric.histogram("http_request_duration_seconds", {
  description: "Seconds from an HTTP request reaching the router to its response, per method and route pattern",
  boundaries: durationBoundaries
})

/**
 * The `route` of a request that matched no route.
 *
 * @category constants
 */
export const unmatchedRoute = "unmatched"

const methods: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

/** A request's matched route, written by the route middleware for the global one (a cell per request). */
class MatchedRoute extends Context.Service<MatchedRoute, { route: string }>()(
  "@ytempire/server/HttpMetrics/MatchedRoute"
) {}

/**
 * Each series made once, as a metric object of its own (whose registry key is computed once): a request costs
 * two map lookups and two updates.
 */
const counters = new Map<string, Metric.Metric<number, unknown>>()
const histograms = new Map<string, Metric.Metric<number, unknown>>()

const record = (context: Context.Context<never>, method: string, route: string, status: number, seconds: number) => {
  const routeKey = `${method} ${route}`
  let histogram = histograms.get(routeKey)
  if (histogram === undefined) {
    histogram = Metric.histogram(requestDurationSeconds.id, {
      description: requestDurationSeconds.description,
      boundaries: durationBoundaries,
      attributes: { method, route }
    })
    histograms.set(routeKey, histogram)
  }
  const countKey = `${routeKey} ${status}`
  let counter = counters.get(countKey)
  if (counter === undefined) {
    counter = Metric.counter(requestsTotal.id, {
      description: requestsTotal.description,
      incremental: true,
      attributes: { method, route, status: String(status) }
    })
    counters.set(countKey, counter)
  }
  counter.updateUnsafe(1, context)
  histogram.updateUnsafe(seconds, context)
}

/** Measures every request; the route middleware below names its route. */
const measure = HttpRouter.middleware((httpEffect) =>
  Effect.withFiber((fiber) => {
    const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
    const method = methods.has(request.method) ? request.method : "other"
    const clock = fiber.getRef(Clock.Clock)
    const start = clock.currentTimeNanosUnsafe()
    const matched = { route: unmatchedRoute }
    return httpEffect.pipe(
      Effect.provideService(MatchedRoute, matched),
      Effect.onExit((exit) =>
        Effect.withFiber((done) => {
          const seconds = Number(clock.currentTimeNanosUnsafe() - start) / 1e9
          if (exit._tag === "Success") {
            record(done.context, method, matched.route, exit.value.status, seconds)
            return Effect.void
          }
          return Effect.map(
            HttpServerError.causeResponse(exit.cause),
            ([response]) => record(done.context, method, matched.route, response.status, seconds)
          )
        })
      )
    )
  }), { global: true })

/** Tells the request's cell the pattern of the route it matched. */
const nameRoute = HttpRouter.middleware((httpEffect) =>
  Effect.withFiber((fiber) => {
    const matched = Context.getOrUndefined(fiber.context, MatchedRoute)
    const route = Context.getOrUndefined(fiber.context, HttpRouter.RouteContext)
    if (matched !== undefined && route !== undefined) matched.route = route.route.path
    return httpEffect
  })
)

/**
 * The HTTP metrics middleware: provide it to the route layers (see the module's gotchas).
 *
 * @category layers
 */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> = Layer.merge(measure, nameRoute.layer)
