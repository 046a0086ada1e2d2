/**
 * The platform's alert rules, as data, and their rendering as a Prometheus rules file (`ytempire alerts export`).
 * They read the metrics served at `GET /metrics` (`Prometheus`): the runtime's `PipelineMetrics`, the GPU
 * scheduler's `GpuMetrics` and the server's HTTP metrics, plus `up` of the scrape job `ytempire`.
 *
 * | group | alert | severity | fires when |
 * | --- | --- | --- | --- |
 * | `ytempire.videos` | `HighCostPerVideo` | critical | videos of the last hour cost more than $3.00 on average |
 * | | `ChannelCostPerVideoHigh` | warning | a channel's last videos cost more than $2.50 (hourly average) |
 * | | `VideoGenerationStuck` | critical | the p95 of the last 15 minutes' videos took more than 10 minutes |
 * | | `VideoGenerationFailureRate` | critical | more than 10 % of the last hour's videos failed |
 * | | `VideoGenerationFailed` | critical | more than 5 videos failed at one stage in the last hour |
 * | | `LowVideoGenerationRate` | warning | fewer than 2 videos completed in the last hour, channels active |
 * | `ytempire.youtube` | `YouTubeQuotaWarning` | warning | an account's quota bucket is more than 80 % used |
 * | | `YouTubeQuotaExhausted` | critical | an account's quota bucket is used up |
 * | `ytempire.http` | `HighErrorRate` | critical | more than 5 % of requests answered 5xx (5 minutes) |
 * | | `SlowAPIResponse` | warning | a route's p95 response time is above 1 s |
 * | | `ServiceDown` | critical | a `ytempire` target cannot be scraped |
 * | `ytempire.budgets` | `BudgetUsageHigh` | warning | a budget scope is 80 % spent or reserved |
 * | | `BudgetUsageCritical` | critical | … 90 % |
 * | | `BudgetExhausted` | critical | … 100 %: its videos are refused |
 * | `ytempire.gpu` | `GpuQueueWaitHigh` | warning | p95 wait for a GPU lease (priority above low) over 5 minutes |
 * | | `GpuQueueBacklog` | warning | more than 50 jobs wait for a lease on a runner |
 * | | `GpuQueueBacklogCritical` | critical | more than 100 |
 * | | `GpuLeaseRejected` | warning | a lease request was refused (`too_large`, `queue_full`) |
 * | `ytempire.providers` | `ProviderDegraded` | warning | more than 25 % of a provider's attempts fail (10 minutes) |
 * | | `ProviderUnavailable` | critical | 90 % or more of them fail |
 *
 * The operations documents' alerts are adapted to our metrics: their `avg(video_cost_dollars) > 3` is the mean of
 * the `video_cost_dollars` histogram over an hour; their error rate (a per-second rate compared with 5 %) is the
 * share of 5xx answers; their "generation stuck" (`video_generation_duration_seconds > 600`, a histogram) is the
 * 95th percentile of completed videos. Their host, PostgreSQL and container alerts (CPU, memory, disk,
 * `pg_up`) need exporters that are not ours and are left to them.
 *
 * Every alert carries the labels `severity` (`warning`, `critical`) and `component` (`cost`, `videos`,
 * `youtube`, `http`, `server`, `budget`, `gpu`, `providers`), and the annotations `summary`, `description` and
 * `runbook_url` (the runbook base URL, by default a placeholder for the operations documents' Incident Response
 * Runbook, with the alert's name in lower case as the anchor).
 *
 * **Gotchas**
 * - Thresholds nest: at 95 % of a budget both `BudgetUsageHigh` and `BudgetUsageCritical` fire (likewise the
 *   quota, backlog and provider pairs); let Alertmanager inhibit the warning while the critical one fires.
 * - `ProviderUnavailable` reads the attempts' outcomes, as there is no circuit-breaker metric yet; when the
 *   provider chain gets one, the same alert should fire on an open circuit too.
 * - `VideoGenerationStuck` sees videos when they complete: a video that never completes shows as
 *   `LowVideoGenerationRate`, not here.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"

// ---------------------------------------------------------------------------------------------------------------
// models

/**
 * How urgent an alert is: `critical` pages, `warning` is looked at in working hours.
 *
 * @category models
 */
export type Severity = "warning" | "critical"

/**
 * One alerting rule.
 *
 * @category models
 */
export interface Rule {
  /** The alert's name, as Prometheus and Alertmanager show it. */
  readonly alert: string
  /** The PromQL expression: each series it returns is one alert; its value is `$value` in the annotations. */
  readonly expr: string
  /** How long the expression must hold before the alert fires (pending until then); zero: at once. */
  readonly for: Duration.Duration
  /** How urgent it is (the `severity` label). */
  readonly severity: Severity
  /** What it is about (the `component` label), for routing. */
  readonly component: string
  /** One line (a Go template over `$labels` and `$value`). */
  readonly summary: string
  /** What happened and what it means (a Go template). */
  readonly description: string
}

/**
 * A named group of rules, evaluated together.
 *
 * @category models
 */
export interface Group {
  /** The group's name, unique in the file. */
  readonly name: string
  /** Its rules. */
  readonly rules: ReadonlyArray<Rule>
}

/**
 * Options of {@link render}.
 *
 * @category models
 */
export interface RenderOptions {
  /** The runbook's URL; each alert links to it with `#<alert name in lower case>` appended. */
  readonly runbookUrl?: string | undefined
}

/**
 * The default runbook URL: a placeholder for the operations documents' Incident Response Runbook, to replace
 * with where the runbook lives (`ytempire alerts export --runbook-url`).
 *
 * @category constants
 */
export const defaultRunbookUrl = "https://runbooks.example.com/ytempire/incident-response"

/**
 * The name of the scrape job whose targets are ytempire servers (`ServiceDown` watches its `up`).
 *
 * @category constants
 */
export const scrapeJob = "ytempire"

const rule = (fields: Omit<Rule, "for"> & { readonly for?: Duration.Input }): Rule => ({
  ...fields,
  for: Duration.fromInputUnsafe(fields.for ?? Duration.zero)
})

const dollars = "{{ $value | printf \"%.2f\" }}"
const count = "{{ $value | printf \"%.0f\" }}"
const percent = "{{ $value | humanizePercentage }}"

// ---------------------------------------------------------------------------------------------------------------
// the rules

/**
 * Videos: cost, duration, failures and throughput (the operations documents' business alerts).
 *
 * @category rules
 */
export const videos: Group = {
  name: "ytempire.videos",
  rules: [
    rule({
      alert: "HighCostPerVideo",
      expr: "sum(increase(video_cost_dollars_sum[1h])) / sum(increase(video_cost_dollars_count[1h])) > 3",
      for: "5 minutes",
      severity: "critical",
      component: "cost",
      summary: "Video cost exceeds the $3.00 limit",
      description: `The videos completed in the last hour cost $${dollars} each on average (limit $3.00).`
    }),
    rule({
      alert: "ChannelCostPerVideoHigh",
      expr: "max by (channel) (avg_over_time(cost_per_video[1h])) > 2.5",
      for: "10 minutes",
      severity: "warning",
      component: "cost",
      summary: "Videos of channel {{ $labels.channel }} cost more than $2.50",
      description: `The last completed videos of channel {{ $labels.channel }} cost $${dollars} on average over the ` +
        "last hour (warning above $2.50, limit $3.00)."
    }),
    rule({
      alert: "VideoGenerationStuck",
      expr: "histogram_quantile(0.95, sum by (le) (rate(video_generation_duration_seconds_bucket[15m]))) > 600",
      for: "5 minutes",
      severity: "critical",
      component: "videos",
      summary: "Video generation takes more than 10 minutes",
      description: "The 95th percentile of the videos completed in the last 15 minutes took " +
        "{{ $value | humanizeDuration }} from their first stage to completion (alert above 10 minutes)."
    }),
    rule({
      alert: "VideoGenerationFailureRate",
      expr: "sum(increase(videos_generated_total{status=\"failed\"}[1h]))" +
        " / sum(increase(videos_generated_total{status=~\"completed|failed\"}[1h])) > 0.1",
      for: "5 minutes",
      severity: "critical",
      component: "videos",
      summary: "More than 10 % of videos fail",
      description: `${percent} of the videos that finished in the last hour failed (alert above 10 %).`
    }),
    rule({
      alert: "VideoGenerationFailed",
      expr: "sum by (stage) (increase(video_generation_failures_total[1h])) > 5",
      for: "5 minutes",
      severity: "critical",
      component: "videos",
      summary: "Videos keep failing at the {{ $labels.stage }} stage",
      description: `About ${count} videos failed at the {{ $labels.stage }} stage in the last hour (alert above 5).`
    }),
    rule({
      alert: "LowVideoGenerationRate",
      expr: "(sum(increase(videos_generated_total{status=\"completed\"}[1h])) or vector(0)) < 2" +
        " and on () (max(active_channels) > 0)",
      for: "30 minutes",
      severity: "warning",
      component: "videos",
      summary: "Fewer than 2 videos an hour",
      description: `About ${count} videos completed in the last hour while channels are active (alert below 2).`
    })
  ]
}

/**
 * YouTube API quota, per account and bucket (`units`, `uploads`, `searches`).
 *
 * @category rules
 */
export const youtube: Group = {
  name: "ytempire.youtube",
  rules: [
    rule({
      alert: "YouTubeQuotaWarning",
      expr: "max by (account, bucket) (youtube_quota_used)" +
        " / max by (account, bucket) (youtube_quota_limit > 0) > 0.8",
      for: "5 minutes",
      severity: "warning",
      component: "youtube",
      summary: "YouTube quota of account {{ $labels.account }} above 80 %",
      description: `Account {{ $labels.account }} has used ${percent} of its daily {{ $labels.bucket }} quota.`
    }),
    rule({
      alert: "YouTubeQuotaExhausted",
      expr: "max by (account, bucket) (youtube_quota_used)" +
        " / max by (account, bucket) (youtube_quota_limit > 0) >= 1",
      for: "1 minute",
      severity: "critical",
      component: "youtube",
      summary: "YouTube quota of account {{ $labels.account }} used up",
      description: `Account {{ $labels.account }} has used ${percent} of its daily {{ $labels.bucket }} quota: ` +
        "what needs more of it waits for the next quota day."
    })
  ]
}

/**
 * The HTTP API: errors, latency, and whether the servers answer at all.
 *
 * @category rules
 */
export const http: Group = {
  name: "ytempire.http",
  rules: [
    rule({
      alert: "HighErrorRate",
      expr: "sum(rate(http_requests_total{status=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m])) > 0.05",
      for: "5 minutes",
      severity: "critical",
      component: "http",
      summary: "HTTP error rate above 5 %",
      description: `${percent} of the HTTP requests of the last 5 minutes were answered with a 5xx status ` +
        "(alert above 5 %)."
    }),
    rule({
      // The WebSocket route's requests last as long as their connection.
      alert: "SlowAPIResponse",
      expr: "histogram_quantile(0.95, sum by (route, le) " +
        "(rate(http_request_duration_seconds_bucket{route!=\"/rpc/ws\"}[5m]))) > 1",
      for: "10 minutes",
      severity: "warning",
      component: "http",
      summary: "Slow responses on {{ $labels.route }}",
      description: "The 95th percentile response time of {{ $labels.route }} over the last 5 minutes is " +
        "{{ $value | humanizeDuration }} (alert above 1 s)."
    }),
    rule({
      alert: "ServiceDown",
      expr: `up{job="${scrapeJob}"} == 0`,
      for: "1 minute",
      severity: "critical",
      component: "server",
      summary: "ytempire {{ $labels.instance }} is down",
      description: "Prometheus has not been able to scrape {{ $labels.instance }} (job {{ $labels.job }}) for " +
        "more than a minute."
    })
  ]
}

/** A scope's spent and reserved dollars over its limit (scopes without a limit have no `budget_limit_dollars`). */
const budgetUsage = "max by (scope) (budget_spent_dollars + budget_reserved_dollars)" +
  " / max by (scope) (budget_limit_dollars > 0)"

/**
 * Budget scopes (`global-day`, `global-month`, `tenant-day:<tenant>`, `channel-day:<channel>`) at 80, 90 and
 * 100 % of their limit, counting what is reserved for videos under way.
 *
 * @category rules
 */
export const budgets: Group = {
  name: "ytempire.budgets",
  rules: [
    rule({
      alert: "BudgetUsageHigh",
      expr: `${budgetUsage} >= 0.8`,
      for: "5 minutes",
      severity: "warning",
      component: "budget",
      summary: "Budget {{ $labels.scope }} is 80 % used",
      description: `Budget scope {{ $labels.scope }} has ${percent} of its limit spent or reserved in the current ` +
        "period."
    }),
    rule({
      alert: "BudgetUsageCritical",
      expr: `${budgetUsage} >= 0.9`,
      for: "5 minutes",
      severity: "critical",
      component: "budget",
      summary: "Budget {{ $labels.scope }} is 90 % used",
      description: `Budget scope {{ $labels.scope }} has ${percent} of its limit spent or reserved in the current ` +
        "period: it is close to refusing videos."
    }),
    rule({
      alert: "BudgetExhausted",
      expr: `${budgetUsage} >= 1`,
      for: "1 minute",
      severity: "critical",
      component: "budget",
      summary: "Budget {{ $labels.scope }} is used up",
      description: `Budget scope {{ $labels.scope }} has ${percent} of its limit spent or reserved: videos ` +
        "charged to it are refused until the period ends or the limit is raised."
    })
  ]
}

/**
 * The GPU scheduler: how long jobs wait for a lease, how many wait, and leases refused.
 *
 * @category rules
 */
export const gpu: Group = {
  name: "ytempire.gpu",
  rules: [
    rule({
      alert: "GpuQueueWaitHigh",
      expr: "histogram_quantile(0.95, sum by (priority, le) " +
        "(rate(gpu_wait_seconds_bucket{priority!=\"low\"}[15m]))) > 300",
      for: "10 minutes",
      severity: "warning",
      component: "gpu",
      summary: "{{ $labels.priority }}-priority GPU jobs wait more than 5 minutes",
      description: "The 95th percentile wait for a GPU lease of the {{ $labels.priority }}-priority jobs granted " +
        "one in the last 15 minutes is {{ $value | humanizeDuration }} (alert above 5 minutes)."
    }),
    rule({
      alert: "GpuQueueBacklog",
      expr: "sum without (priority) (gpu_queue_depth) > 50",
      for: "10 minutes",
      severity: "warning",
      component: "gpu",
      summary: "GPU queue backlog on {{ $labels.instance }}",
      description: `${count} jobs wait for a GPU lease on {{ $labels.instance }} (warning above 50, critical ` +
        "above 100)."
    }),
    rule({
      alert: "GpuQueueBacklogCritical",
      expr: "sum without (priority) (gpu_queue_depth) > 100",
      for: "10 minutes",
      severity: "critical",
      component: "gpu",
      summary: "GPU queue backlog on {{ $labels.instance }}",
      description: `${count} jobs wait for a GPU lease on {{ $labels.instance }} (critical above 100).`
    }),
    rule({
      alert: "GpuLeaseRejected",
      expr: "sum by (instance, reason) (increase(gpu_rejections_total[15m])) > 0",
      severity: "warning",
      component: "gpu",
      summary: "GPU lease requests refused ({{ $labels.reason }})",
      description: `{{ $labels.instance }} refused about ${count} GPU lease requests in the last 15 minutes as ` +
        "{{ $labels.reason }}: too_large means no device can hold the job (its VRAM estimate or the inventory is " +
        "wrong), queue_full that the queue is at its admission limit."
    })
  ]
}

/** A provider's failed or timed-out share of its attempts in the last 10 minutes, given at least 5 attempts. */
const providerFailure = (threshold: string) =>
  "sum by (provider) (rate(provider_attempts_total{outcome!=\"succeeded\"}[10m]))" +
  ` / sum by (provider) (rate(provider_attempts_total[10m])) ${threshold}` +
  " and on (provider) (sum by (provider) (increase(provider_attempts_total[10m])) >= 5)"

/**
 * The stages' providers: how many of their attempts fail or time out.
 *
 * @category rules
 */
export const providers: Group = {
  name: "ytempire.providers",
  rules: [
    rule({
      alert: "ProviderDegraded",
      expr: providerFailure("> 0.25"),
      for: "10 minutes",
      severity: "warning",
      component: "providers",
      summary: "Provider {{ $labels.provider }} is failing",
      description: `${percent} of the attempts on provider {{ $labels.provider }} in the last 10 minutes failed ` +
        "or timed out (alert above 25 %); its stages retry and fall back to the next provider."
    }),
    rule({
      alert: "ProviderUnavailable",
      expr: providerFailure(">= 0.9"),
      for: "5 minutes",
      severity: "critical",
      component: "providers",
      summary: "Provider {{ $labels.provider }} is unavailable",
      description: `${percent} of the attempts on provider {{ $labels.provider }} in the last 10 minutes failed ` +
        "or timed out: its stages run on the next provider of their chain, or fail if there is none."
    })
  ]
}

/**
 * Every group, in the order of the rules file.
 *
 * @category rules
 */
export const groups: ReadonlyArray<Group> = [videos, youtube, http, budgets, gpu, providers]

// ---------------------------------------------------------------------------------------------------------------
// rendering

/**
 * A duration as Prometheus writes one (`1h`, `30m`, `90s`, `0s`): the largest unit that divides it.
 *
 * @category rendering
 */
export const formatDuration = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (millis !== 0 && millis % size === 0) return `${millis / size}${unit}`
  }
  return millis === 0 ? "0s" : `${Math.round(millis)}ms`
}

/** A YAML scalar: double-quoted with JSON's escapes (YAML 1.2 reads JSON strings as they are). */
const quoted = (text: string): string => JSON.stringify(text)

/** A plain YAML scalar where it is safe (an identifier-like name), else quoted. */
const plain = (text: string): string => /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(text) ? text : quoted(text)

/**
 * Renders groups as a Prometheus rules file (YAML), with a header comment naming where it comes from.
 *
 * @category rendering
 */
export const render = (ruleGroups: ReadonlyArray<Group> = groups, options?: RenderOptions): string => {
  const runbookUrl = options?.runbookUrl ?? defaultRunbookUrl
  const lines = [
    "# ytempire alert rules: generated by `ytempire alerts export` from packages/ops/src/AlertRules.ts.",
    "# They read the metrics of the servers' GET /metrics, scraped by the job \"ytempire\".",
    "groups:"
  ]
  for (const group of ruleGroups) {
    lines.push(`  - name: ${plain(group.name)}`, "    rules:")
    for (const entry of group.rules) {
      lines.push(`      - alert: ${plain(entry.alert)}`, `        expr: ${quoted(entry.expr)}`)
      if (Duration.toMillis(entry.for) > 0) lines.push(`        for: ${formatDuration(entry.for)}`)
      lines.push(
        "        labels:",
        `          severity: ${plain(entry.severity)}`,
        `          component: ${plain(entry.component)}`,
        "        annotations:",
        `          summary: ${quoted(entry.summary)}`,
        `          description: ${quoted(entry.description)}`,
        `          runbook_url: ${quoted(`${runbookUrl}#${entry.alert.toLowerCase()}`)}`
      )
    }
  }
  return `${lines.join("\n")}\n`
}
