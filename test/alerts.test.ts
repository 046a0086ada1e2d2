/**
 * The alert rules as an operator gets them: `ytempire alerts export` run as a child process, its file checked by
 * `promtool check rules` and tested by `promtool test rules` with the series of test/alerts/*.test.yml (each
 * alert fires where it should, with its labels and annotations, and stays quiet where it should). The committed
 * examples/observability/ytempire.rules.yml must equal the export, and the example Prometheus configuration
 * must pass `promtool check config`. Every metric the rules and the Grafana dashboard read must be one the
 * server exports.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { GpuMetrics } from "@ytempire/gpu"
import { AlertRules } from "@ytempire/ops"
import { PipelineMetrics } from "@ytempire/runtime"
import * as HttpMetrics from "@ytempire/server/HttpMetrics"
import { Duration, Metric } from "effect"
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("..", import.meta.url))
const testsDir = join(repoRoot, "test", "alerts")
const examplesDir = join(repoRoot, "examples", "observability")
const promtool = "/usr/bin/promtool"

const run = (command: string, args: ReadonlyArray<string>, cwd = repoRoot) => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 60_000 })
  return { status: result.status, output: `${result.stdout}${result.stderr}`, stdout: result.stdout }
}

const ytempire = (...args: ReadonlyArray<string>) => run(process.execPath, ["packages/server/src/bin.ts", ...args])

const exportDir = mkdtempSync(join(tmpdir(), "ytempire-alerts-"))
const exported = join(exportDir, "ytempire.rules.yml")
const testFiles = readdirSync(testsDir).filter((name) => name.endsWith(".test.yml")).toSorted()
const alertNames = AlertRules.groups.flatMap((group) => group.rules.map((rule) => rule.alert))

/** `ytempire alerts export --output <temporary directory>/ytempire.rules.yml`, once for the file. */
let written: ReturnType<typeof run>

beforeAll(() => {
  written = ytempire("alerts", "export", "--output", exported)
})

describe("ytempire alerts export", () => {
  it("writes the rules file with --output, and prints the same file without it", () => {
    expect(written.output).toContain(`${alertNames.length} rules in ${AlertRules.groups.length} groups`)
    expect(written.status).toBe(0)
    const printed = ytempire("alerts", "export")
    expect(printed.status).toBe(0)
    expect(printed.stdout).toBe(readFileSync(exported, "utf8"))
  })

  it("passes promtool check rules", () => {
    const checked = run(promtool, ["check", "rules", exported])
    expect(checked.output).toContain(`SUCCESS: ${alertNames.length} rules found`)
    expect(checked.status).toBe(0)
  })

  it("passes promtool test rules: each alert fires and stays quiet as test/alerts/*.test.yml expect", () => {
    expect(testFiles.length).toBeGreaterThan(0)
    for (const file of testFiles) copyFileSync(join(testsDir, file), join(exportDir, file))
    const tested = run(promtool, ["test", "rules", ...testFiles], exportDir)
    expect(tested.output).not.toContain("FAILED")
    expect(tested.status).toBe(0)
  })

  it("has test cases for every alert: at least one where it fires and one where it stays quiet", () => {
    const cases = testFiles.map((file) => readFileSync(join(testsDir, file), "utf8")).join("\n")
    // An alert_rule_test entry: its alertname, then either `exp_alerts: []` (quiet) or a list (fires).
    const entries = [...cases.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)]
    for (const name of alertNames) {
      const own = entries.filter((entry) => entry[1] === name)
      expect(own.some((entry) => entry[2] === undefined), `${name} fires in a test`).toBe(true)
      expect(own.some((entry) => entry[2] !== undefined), `${name} stays quiet in a test`).toBe(true)
    }
  })

  it("links each alert to the runbook given with --runbook-url", () => {
    const printed = ytempire("alerts", "export", "--runbook-url", "https://wiki.example.org/ops/runbook")
    expect(printed.status).toBe(0)
    for (const name of alertNames) {
      expect(printed.stdout).toContain(`runbook_url: "https://wiki.example.org/ops/runbook#${name.toLowerCase()}"`)
    }
  })
})

describe("AlertRules", () => {
  it("names each alert once, with a severity, a component and a summary", () => {
    expect(new Set(alertNames).size).toBe(alertNames.length)
    for (const rule of AlertRules.groups.flatMap((group) => group.rules)) {
      expect(["warning", "critical"]).toContain(rule.severity)
      expect(rule.component).toMatch(/^[a-z]+$/)
      expect(rule.summary.length).toBeGreaterThan(0)
    }
  })

  it("writes durations as Prometheus does", () => {
    expect(AlertRules.formatDuration(Duration.minutes(5))).toBe("5m")
    expect(AlertRules.formatDuration(Duration.hours(1))).toBe("1h")
    expect(AlertRules.formatDuration(Duration.seconds(90))).toBe("90s")
    expect(AlertRules.formatDuration(Duration.millis(1500))).toBe("1500ms")
    expect(AlertRules.formatDuration(Duration.zero)).toBe("0s")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// the metric names the rules and the dashboard read

const exportedMetrics = (modules: ReadonlyArray<object>): ReadonlySet<string> => {
  const names = new Set<string>(["up"])
  for (const module of modules) {
    for (const value of Object.values(module)) {
      if (!Metric.isMetric(value)) continue
      names.add(value.id)
      if (value.type === "Histogram") {
        for (const suffix of ["_bucket", "_sum", "_count"]) names.add(value.id + suffix)
      }
    }
  }
  return names
}

const known = exportedMetrics([PipelineMetrics, GpuMetrics, HttpMetrics])

/** PromQL's functions and keywords with an underscore (names without one are never taken for metrics). */
const notMetrics: ReadonlySet<string> = new Set([
  "histogram_quantile",
  "avg_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time"
])

/** The metric names an expression reads: identifiers with an underscore, outside strings, that are not functions. */
const metricsOf = (expr: string): ReadonlyArray<string> =>
  [...expr.replace(/"[^"]*"/g, "\"\"").matchAll(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g)]
    .map((match) => match[0])
    .filter((name) => !notMetrics.has(name))

describe("the metrics read", () => {
  it("are all exported by the server (the rules)", () => {
    for (const rule of AlertRules.groups.flatMap((group) => group.rules)) {
      for (const name of metricsOf(rule.expr)) expect(known, `${rule.alert} reads ${name}`).toContain(name)
    }
  })

  it("are all exported by the server, and every query is valid PromQL (the Grafana dashboard)", () => {
    const dashboard = JSON.parse(readFileSync(join(examplesDir, "grafana-dashboard.json"), "utf8")) as {
      readonly panels: ReadonlyArray<{ readonly title: string; readonly targets?: ReadonlyArray<{ expr: string }> }>
    }
    const queries = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ title: panel.title, expr: target.expr }))
    )
    expect(queries.length).toBeGreaterThan(10)
    for (const { expr, title } of queries) {
      for (const name of metricsOf(expr)) expect(known, `panel "${title}" reads ${name}`).toContain(name)
    }
    // promtool parses each query as a recording rule's expression.
    const rules = [
      "groups:",
      "  - name: dashboard",
      "    rules:",
      ...queries.flatMap(({ expr }, index) => [
        `      - record: dashboard:query_${index}`,
        `        expr: ${JSON.stringify(expr)}`
      ])
    ].join("\n")
    const file = join(exportDir, "dashboard.rules.yml")
    writeFileSync(file, `${rules}\n`)
    const checked = run(promtool, ["check", "rules", file])
    expect(checked.output).toContain(`SUCCESS: ${queries.length} rules found`)
    expect(checked.status).toBe(0)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// examples/observability

describe("examples/observability", () => {
  it("holds the rules file as the command exports it", () => {
    const committed = readFileSync(join(examplesDir, "ytempire.rules.yml"), "utf8")
    const printed = ytempire("alerts", "export")
    expect(printed.status).toBe(0)
    expect(
      committed,
      "regenerate it: npm run ytempire -- alerts export --output examples/observability/ytempire.rules.yml"
    )
      .toBe(printed.stdout)
  })

  it("has a Prometheus configuration that passes promtool check config, rules included", () => {
    const checked = run(promtool, ["check", "config", join(examplesDir, "prometheus.yml")])
    expect(checked.output).toContain("SUCCESS: 1 rule files found")
    expect(checked.status).toBe(0)
  })
})
