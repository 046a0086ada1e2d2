import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

const ytempire = (...args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe("ytempire estimate", () => {
  it("prints one JSON line with each tier's cost per video and what the daily budget covers", () => {
    const { status, stdout } = ytempire("estimate", "--json")
    expect(status).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines).toHaveLength(1)
    const report = JSON.parse(lines[0]!)
    expect(report.dailyBudget).toBe("200.00")
    const premium = report.tiers.find((tier: { tier: string }) => tier.tier === "premium")
    expect(premium).toMatchObject({
      perVideo: "0.662",
      stages: { script: "0.12", voice: "0.45", upload: "0.04" },
      perDay: "33.10",
      videosPerDailyBudget: 302,
      meetsTarget: false
    })
    const standard = report.tiers.find((tier: { tier: string }) => tier.tier === "standard")
    expect(standard).toMatchObject({ perVideo: "0.102", meetsTarget: true })
  })

  it("applies price overrides and the narration length", () => {
    const { status, stdout } = ytempire(
      "estimate",
      "--json",
      "--price",
      "openai.gpt-4=0.03",
      "--narration-chars",
      "1000",
      "--videos-per-day",
      "10"
    )
    expect(status).toBe(0)
    const premium = JSON.parse(stdout).tiers[0]
    // $0.06 for 2,000 tokens at $0.03/1K, $0.30 for 1,000 characters, then thumbnail, render and upload.
    expect(premium.perVideo).toBe("0.452")
    expect(premium.perDay).toBe("4.52")
    expect(premium.meetsTarget).toBe(true)
  })

  it("refuses an unknown or negative price with one line naming it, and exit code 2", () => {
    const unknown = ytempire("estimate", "--price", "openai.gpt-5=1")
    expect(unknown.status).toBe(2)
    expect(unknown.stdout).toBe("")
    expect(unknown.stderr.trim()).toMatch(/^ytempire: --price openai\.gpt-5: unknown price "openai\.gpt-5"/)
    const negative = ytempire("estimate", "--price", "google.tts=-0.01")
    expect(negative.status).toBe(2)
    expect(negative.stderr).toMatch(/--price google\.tts: must not be negative/)
  })

  it("refuses a malformed command line with exit code 2, naming the flag", () => {
    const negative = ytempire("estimate", "--videos-per-day", "-3")
    expect(negative.status).toBe(2)
    expect(negative.stderr).toMatch(/--videos-per-day/)
    const fractional = ytempire("estimate", "--narration-chars", "1.5")
    expect(fractional.status).toBe(2)
    expect(fractional.stderr).toMatch(/--narration-chars/)
    expect(ytempire("estimate", "--help").status).toBe(0)
  })
})
