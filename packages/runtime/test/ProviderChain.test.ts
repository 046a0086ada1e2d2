import { describe, expect, it } from "@effect/vitest"
import { Pricing, Provider } from "@ytempire/domain"
import { ProviderChain } from "@ytempire/runtime"
import { DateTime, Duration, Effect, Exit, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"

type Behaviour = "ok" | "retryable" | "fatal" | "hang"

/** A provider that plays a script of behaviours, one per call, and counts its calls. */
const scripted = (name: string, tier: Provider.ProviderTier, behaviours: ReadonlyArray<Behaviour>) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const provider: ProviderChain.StageProvider<string, string> = {
      name,
      tier,
      run: (input) =>
        Effect.gen(function*() {
          const call = yield* Ref.getAndUpdate(calls, (n) => n + 1)
          const behaviour = behaviours[Math.min(call, behaviours.length - 1)]
          switch (behaviour) {
            case "ok":
              return { value: `${name}:${input}`, usage: [Pricing.use("openai.gpt-4", 1_000)] }
            case "hang":
              return yield* Effect.never
            default:
              return yield* new Provider.ProviderUnavailable({
                provider: name,
                stage: "script",
                reason: behaviour === "retryable" ? "429 Too Many Requests" : "401 invalid API key",
                retryable: behaviour === "retryable"
              })
          }
        })
    }
    return { provider, calls }
  })

const instant: ProviderChain.RetryPolicy = {
  attemptTimeout: "1 minute",
  maxAttempts: 3,
  baseDelay: 0,
  maxDelay: 0
}

describe("ProviderChain", () => {
  it.effect("retries a retryable failure on the same provider, then succeeds, keeping every attempt", () =>
    Effect.gen(function*() {
      const gpt4 = yield* scripted("openai:gpt-4", "premium", ["retryable", "retryable", "ok"])
      const result = yield* ProviderChain.run("script", [gpt4.provider], "topic", {
        startTier: "premium",
        policy: instant
      })
      expect(result.value).toBe("openai:gpt-4:topic")
      expect(result.provider).toBe("openai:gpt-4")
      expect(result.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, "failed"], [2, "failed"], [
        3,
        "succeeded"
      ]])
      expect(result.attempts[0]!.error).toMatchObject({ tag: "ProviderUnavailable", retryable: true })
      expect(yield* Ref.get(gpt4.calls)).toBe(3)
    }))

  it.effect("falls back to the next provider when the retries are spent, saying why", () =>
    Effect.gen(function*() {
      const gpt4 = yield* scripted("openai:gpt-4", "premium", ["retryable"])
      const gpt35 = yield* scripted("openai:gpt-3.5-turbo", "standard", ["ok"])
      const result = yield* ProviderChain.run("script", [gpt4.provider, gpt35.provider], "t", {
        startTier: "premium",
        policy: instant
      })
      expect(result.provider).toBe("openai:gpt-3.5-turbo")
      expect(result.tier).toBe("standard")
      expect(yield* Ref.get(gpt4.calls)).toBe(3)
      expect(result.attempts).toHaveLength(4)
      expect(result.attempts[3]!.fallbackReason).toMatch(/openai:gpt-4: .*429 Too Many Requests/)
    }))

  it.effect("does not retry a non-retryable failure: it moves on at once", () =>
    Effect.gen(function*() {
      const gpt4 = yield* scripted("openai:gpt-4", "premium", ["fatal", "ok"])
      const local = yield* scripted("local-llama", "local", ["ok"])
      const result = yield* ProviderChain.run("script", [gpt4.provider, local.provider], "t", {
        startTier: "premium",
        policy: instant
      })
      expect(yield* Ref.get(gpt4.calls)).toBe(1)
      expect(result.provider).toBe("local-llama")
      expect(result.attempts[0]).toMatchObject({ outcome: "failed", error: { retryable: false } })
    }))

  it.effect("enforces the timeout of each attempt", () =>
    Effect.gen(function*() {
      const slow = yield* scripted("elevenlabs", "premium", ["hang"])
      const google = yield* scripted("google-tts", "standard", ["ok"])
      const fiber = yield* ProviderChain.run("voice", [slow.provider, google.provider], "t", {
        startTier: "premium",
        policy: { ...instant, attemptTimeout: "30 seconds", maxAttempts: 1 }
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("29 seconds")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      expect(result.provider).toBe("google-tts")
      expect(result.attempts[0]).toMatchObject({ outcome: "timed-out", error: { tag: "StageTimeout" } })
      const first = result.attempts[0]!
      expect(Duration.toMillis(DateTime.distance(first.startedAt, first.endedAt))).toBe(30_000)
    }))

  it.effect("backs off exponentially between attempts", () =>
    Effect.gen(function*() {
      const flaky = yield* scripted("openai:gpt-4", "premium", ["retryable", "retryable", "ok"])
      const fiber = yield* ProviderChain.run("script", [flaky.provider], "t", {
        startTier: "premium",
        policy: { attemptTimeout: "1 minute", maxAttempts: 3, baseDelay: "1 second", maxDelay: "1 minute" }
      }).pipe(Effect.forkChild)
      // Jitter scales each delay into [0.5, 1.5) of 1 s, then 2 s: all three attempts are done within 4.5 s.
      yield* TestClock.adjust("500 millis")
      yield* TestClock.adjust("4 seconds")
      const result = yield* Fiber.join(fiber)
      const starts = result.attempts.map((attempt) => DateTime.toEpochMillis(attempt.startedAt))
      const first = starts[1]! - starts[0]!
      const second = starts[2]! - starts[1]!
      expect(first).toBeGreaterThanOrEqual(500)
      expect(first).toBeLessThan(1_500)
      expect(second).toBeGreaterThanOrEqual(1_000)
      expect(second).toBeLessThan(3_000)
    }))

  it.effect("fails with every attempt when all providers fail", () =>
    Effect.gen(function*() {
      const a = yield* scripted("a", "premium", ["fatal"])
      const b = yield* scripted("b", "local", ["retryable"])
      const exit = yield* ProviderChain.run("render", [a.provider, b.provider], "t", {
        startTier: "premium",
        policy: instant
      }).pipe(Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(
        ProviderChain.run("render", [a.provider, b.provider], "t", { startTier: "premium", policy: instant })
      )
      expect(error._tag).toBe("StageFailed")
      expect(error.attempts.map((attempt) => attempt.provider)).toEqual(["a", "b", "b", "b"])
      expect(error.message).toMatch(/last: b: .*429/)
    }))

  it.effect("starts at a cheaper tier under soft budget control and never climbs to a pricier one", () =>
    Effect.gen(function*() {
      const premium = yield* scripted("elevenlabs", "premium", ["ok"])
      const economy = yield* scripted("google-tts", "economy", ["fatal"])
      const local = yield* scripted("espeak-ng", "local", ["ok"])
      const tier = ProviderChain.startTier(0.9, true)
      expect(tier).toBe("economy")
      const result = yield* ProviderChain.run("voice", [premium.provider, economy.provider, local.provider], "t", {
        startTier: tier,
        startReason: "soft budget control",
        policy: instant
      })
      expect(yield* Ref.get(premium.calls)).toBe(0)
      expect(result.provider).toBe("espeak-ng")
      expect(result.attempts[0]!.fallbackReason).toBe("soft budget control")
    }))

  it("maps quality to a starting tier and orders candidates from that tier down", () => {
    expect(ProviderChain.startTier(0.9, false)).toBe("premium")
    expect(ProviderChain.startTier(0.5, false)).toBe("standard")
    expect(ProviderChain.startTier(0.3, false)).toBe("economy")
    expect(ProviderChain.startTier(0, false)).toBe("local")
    expect(ProviderChain.startTier(0, true)).toBe("local")
    const providers = [
      { name: "local", tier: "local" as const },
      { name: "gpt4", tier: "premium" as const },
      { name: "gpt35", tier: "standard" as const }
    ]
    expect(ProviderChain.candidates(providers, "premium").map((p) => p.name)).toEqual(["gpt4", "gpt35", "local"])
    expect(ProviderChain.candidates(providers, "standard").map((p) => p.name)).toEqual(["gpt35", "local"])
    // Nothing as cheap as asked: the cheapest there is.
    expect(ProviderChain.candidates(providers.slice(1), "local").map((p) => p.name)).toEqual(["gpt35"])
  })
})
