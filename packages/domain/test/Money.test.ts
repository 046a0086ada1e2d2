import { describe, expect, it } from "@effect/vitest"
import { Money } from "@ytempire/domain"
import { Effect, Exit, Option, Schema } from "effect"

const decode = Schema.decodeUnknownSync(Money.Money)
const encode = Schema.encodeSync(Money.Money)

describe("Money", () => {
  describe("decoding", () => {
    it("reads decimal strings exactly", () => {
      expect(Money.toMicros(decode("0.50"))).toBe(500_000)
      expect(Money.toMicros(decode("12"))).toBe(12_000_000)
      expect(Money.toMicros(decode("-3.25"))).toBe(-3_250_000)
      expect(Money.toMicros(decode("0.000001"))).toBe(1)
      expect(Money.toMicros(decode("5000.00"))).toBe(5_000_000_000)
      expect(Money.toMicros(decode("1e-6"))).toBe(1)
    })

    it("reads JSON numbers through their shortest decimal form, so 0.1 and 0.3 are exact", () => {
      expect(Money.toMicros(decode(0.5))).toBe(500_000)
      expect(Money.toMicros(decode(0.1))).toBe(100_000)
      expect(Money.toMicros(decode(0.3))).toBe(300_000)
      // 0.1 + 0.2 is 0.30000000000000004 as a float; it is still below a micro-dollar away from $0.30.
      expect(Money.toMicros(decode(0.1 + 0.2))).toBe(300_000)
      expect(Money.toMicros(decode(0.0003))).toBe(300)
      expect(Money.toMicros(decode(1e-7))).toBe(0)
      expect(Money.toMicros(decode(200))).toBe(200_000_000)
    })

    it("rounds below a micro-dollar to the nearest, ties to even", () => {
      expect(Money.toMicros(decode("0.0000005"))).toBe(0) // tie, 0 is even
      expect(Money.toMicros(decode("0.0000015"))).toBe(2) // tie, 2 is even
      expect(Money.toMicros(decode("0.0000025"))).toBe(2) // tie, 2 is even
      expect(Money.toMicros(decode("0.00000251"))).toBe(3) // above the tie
      expect(Money.toMicros(decode("0.0000024999"))).toBe(2) // below the tie
      expect(Money.toMicros(decode("-0.0000015"))).toBe(-2) // symmetric for negatives
      expect(Money.toMicros(decode("-0.0000026"))).toBe(-3)
    })

    it("refuses what is not an amount, saying what it expected", () => {
      for (const bad of ["", "abc", "1.2.3", "$5", "1,000", "0x10", "NaN", "Infinity", "1e400", "9".repeat(40)]) {
        expect(() => decode(bad), `input ${JSON.stringify(bad)}`).toThrow(/amount of US dollars/)
      }
      expect(() => decode(Number.NaN)).toThrow()
      expect(() => decode(Number.POSITIVE_INFINITY)).toThrow()
      expect(() => decode(true)).toThrow()
      expect(() => decode(null)).toThrow()
    })

    it.effect("NonNegative refuses negative amounts with a message", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Schema.decodeUnknownEffect(Money.NonNegative)("-0.01"))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(String(exit)).toMatch(/must not be negative/)
        const ok = yield* Schema.decodeUnknownEffect(Money.NonNegative)("0")
        expect(Money.isZero(ok)).toBe(true)
      }))
  })

  describe("encoding and formatting", () => {
    it("encodes as a decimal string with two to six decimals that decodes back to the same amount", () => {
      expect(encode(Money.fromMicros(450_000))).toBe("0.45")
      expect(encode(Money.fromMicros(2_500_000))).toBe("2.50")
      expect(encode(Money.fromMicros(1))).toBe("0.000001")
      expect(encode(Money.fromMicros(-1_234_567))).toBe("-1.234567")
      expect(encode(Money.zero)).toBe("0.00")
      for (const micros of [0, 1, 9, 10, 99_999, 100_000, 123_456_789, -5, -1_000_000, Number.MAX_SAFE_INTEGER]) {
        expect(Money.toMicros(decode(encode(Money.fromMicros(micros))))).toBe(micros)
      }
    })

    it("formats for people", () => {
      expect(Money.format(Money.unsafeFromDecimal("1234.5"))).toBe("$1,234.50")
      expect(Money.format(Money.unsafeFromDecimal("5000"))).toBe("$5,000.00")
      expect(Money.format(Money.unsafeFromDecimal("-0.000004"))).toBe("-$0.000004")
      expect(Money.format(Money.unsafeFromDecimal("0.45"))).toBe("$0.45")
    })
  })

  describe("arithmetic", () => {
    it("has no drift over a million additions", () => {
      const dime = Money.unsafeFromDecimal("0.10")
      let total = Money.zero
      for (let i = 0; i < 1_000_000; i++) total = Money.add(total, dime)
      expect(Money.toDecimal(total)).toBe("100000.00")
      // The float way drifts: this is why money is never a floating-point sum.
      let floatTotal = 0
      for (let i = 0; i < 1_000_000; i++) floatTotal += 0.1
      expect(floatTotal).not.toBe(100_000)

      const micro = Money.fromMicros(1)
      expect(Money.toMicros(Money.sum(Array.from({ length: 1_000_000 }, () => micro)))).toBe(1_000_000)
    })

    it("scales a price by a quantity with the stated rounding", () => {
      const gpt4Per1k = Money.unsafeFromDecimal("0.06")
      expect(Money.toDecimal(Money.scale(gpt4Per1k, 2000, 1000))).toBe("0.12")
      // $0.0001 per 1K tokens × 5 tokens = $0.0000005: a tie, rounds to even (0).
      expect(Money.toMicros(Money.scale(Money.unsafeFromDecimal("0.0001"), 5, 1000))).toBe(0)
      // × 15 tokens = $0.0000015: a tie, rounds to 2 µUSD.
      expect(Money.toMicros(Money.scale(Money.unsafeFromDecimal("0.0001"), 15, 1000))).toBe(2)
      expect(Money.toDecimal(Money.multiply(Money.unsafeFromDecimal("0.002"), 3))).toBe("0.006")
    })

    it("compares, and refuses to leave the safe-integer range", () => {
      const a = Money.unsafeFromDecimal("2.50")
      const b = Money.unsafeFromDecimal("3.00")
      expect(Money.Order(a, b)).toBe(-1)
      expect(Money.max(a, b)).toBe(b)
      expect(Money.min(a, b)).toBe(a)
      expect(Money.ratio(a, b)).toBeCloseTo(0.8333, 4)
      expect(Money.toDecimal(Money.subtract(a, b))).toBe("-0.50")
      expect(Money.isNegative(Money.subtract(a, b))).toBe(true)
      expect(() => Money.add(Money.fromMicros(Number.MAX_SAFE_INTEGER), Money.fromMicros(1))).toThrow(RangeError)
      expect(() => Money.fromMicros(0.5)).toThrow(RangeError)
      expect(Option.isNone(Money.fromNumber(Number.MAX_VALUE))).toBe(true)
    })
  })
})
