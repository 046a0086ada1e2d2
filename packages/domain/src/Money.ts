/**
 * Money in integer micro-dollars (1 USD = 1,000,000 µUSD).
 *
 * Every amount is a safe integer count of micro-dollars, so sums and differences are exact: adding $0.10 a
 * million times gives exactly $100,000.00. Amounts enter from decimal strings (`"0.50"`) or JSON numbers
 * (`0.5`, read through their shortest decimal form, so `0.1` is exactly 100,000 µUSD) and leave as decimal
 * strings (`"0.50"`).
 *
 * **Rounding rule**: an amount finer than a micro-dollar (an input with more than six decimals, or a price
 * scaled by a quantity) is rounded to the nearest micro-dollar, ties to even ("banker's rounding", which
 * carries no bias over many roundings): `"0.0000005"` → 0 µUSD, `"0.0000015"` → 2 µUSD.
 *
 * **Gotchas**: arithmetic that would leave the safe-integer range (about ±$9 billion) throws a `RangeError`
 * rather than lose precision; `toDollars` gives a float for metrics and must not be summed back into money.
 * A `Money` value is a plain number of micro-dollars, so `JSON.stringify` of a model prints micro-dollars
 * (`3000000` for $3.00) while the `Money` schema reads a JSON number as dollars: always encode models with their
 * schema (`Schema.encodeSync(Model)`, as RPC and storage do), never with bare `JSON.stringify`.
 *
 * @since 0.1.0
 */
import { Brand, Effect, Option, Order as Ord, Schema, SchemaIssue, SchemaTransformation } from "effect"

/**
 * An amount of US dollars as an integer number of micro-dollars.
 *
 * @category models
 */
export type Money = number & Brand.Brand<"Money">

/** Micro-dollars in one dollar. @category constants */
export const MICROS_PER_DOLLAR = 1_000_000

const make = (micros: number): Money => {
  if (!Number.isSafeInteger(micros)) {
    throw new RangeError(`Money out of range: ${micros} µUSD is not a safe integer`)
  }
  // Normalise -0 so that equal amounts compare and print equally.
  return (micros === 0 ? 0 : micros) as Money
}

/**
 * Money from a count of micro-dollars; throws a `RangeError` unless it is a safe integer.
 *
 * @category constructors
 */
export const fromMicros = (micros: number): Money => make(micros)

/**
 * Money from a whole number of cents.
 *
 * @category constructors
 */
export const fromCents = (cents: number): Money => make(cents * 10_000)

/** No money. @category constants */
export const zero: Money = make(0)

/**
 * The micro-dollar count of an amount.
 *
 * @category getters
 */
export const toMicros = (money: Money): number => money

/**
 * The amount as a floating-point number of dollars, for metrics and charts only.
 *
 * @category getters
 */
export const toDollars = (money: Money): number => money / MICROS_PER_DOLLAR

// ---------------------------------------------------------------------------------------------------------------
// rounding

/** `numerator / denominator` for bigints, rounded to the nearest integer, ties to even. */
const divideHalfEven = (numerator: bigint, denominator: bigint): bigint => {
  if (denominator < 0n) return divideHalfEven(-numerator, -denominator)
  const quotient = numerator / denominator // truncates toward zero
  const remainder = numerator % denominator
  if (remainder === 0n) return quotient
  const twice = (remainder < 0n ? -remainder : remainder) * 2n
  const away = numerator < 0n ? quotient - 1n : quotient + 1n
  if (twice > denominator) return away
  if (twice < denominator) return quotient
  return quotient % 2n === 0n ? quotient : away
}

const fromBigMicros = (micros: bigint): Money => {
  if (micros > BigInt(Number.MAX_SAFE_INTEGER) || micros < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`Money out of range: ${micros} µUSD is not a safe integer`)
  }
  return make(Number(micros))
}

// ---------------------------------------------------------------------------------------------------------------
// decimal text

const decimalPattern = /^([+-])?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/

/**
 * Parses a decimal number of dollars exactly (`"12"`, `"0.50"`, `"-3.25"`, `"1e-6"`), rounding below a
 * micro-dollar half to even. `None` for anything else, or an amount beyond the safe range.
 *
 * @category constructors
 */
export const fromDecimal = (text: string): Option.Option<Money> => {
  const match = decimalPattern.exec(text.trim())
  if (match === null) return Option.none()
  const [, sign, whole, fraction = "", exponentText = "0"] = match
  const exponent = Number(exponentText)
  // Guard absurd exponents before building the digit string; past these no input is a safe amount of money.
  if (!Number.isSafeInteger(exponent) || exponent > 30 || exponent < -400) return Option.none()
  const digits = BigInt(`${whole}${fraction}`)
  // value = digits × 10^(exponent − fraction.length) dollars = digits × 10^(exponent − fraction.length + 6) µUSD
  const shift = exponent - fraction.length + 6
  const magnitude = shift >= 0 ? digits * 10n ** BigInt(shift) : divideHalfEven(digits, 10n ** BigInt(-shift))
  try {
    return Option.some(fromBigMicros(sign === "-" ? -magnitude : magnitude))
  } catch {
    return Option.none()
  }
}

/**
 * Money from a JavaScript number of dollars, read through its shortest decimal form (so `0.1` is exactly
 * $0.10, not 0.1000000000000000055…). `None` for NaN, infinities and out-of-range amounts.
 *
 * @category constructors
 */
export const fromNumber = (dollars: number): Option.Option<Money> =>
  Number.isFinite(dollars) ? fromDecimal(String(dollars)) : Option.none()

/**
 * Money from a decimal string of dollars; throws on malformed input. For literals and tests.
 *
 * @category constructors
 */
export const unsafeFromDecimal = (text: string): Money =>
  Option.getOrThrowWith(fromDecimal(text), () => new RangeError(`Not an amount of money: ${JSON.stringify(text)}`))

/**
 * The amount as a plain decimal string of dollars with two to six decimals: `"0.45"`, `"1.234567"`,
 * `"-2.50"`. It parses back to the same amount.
 *
 * @category formatting
 */
export const toDecimal = (money: Money): string => {
  const negative = money < 0
  const absolute = Math.abs(money)
  const whole = Math.floor(absolute / MICROS_PER_DOLLAR)
  let fraction = String(absolute % MICROS_PER_DOLLAR).padStart(6, "0")
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1)
  return `${negative ? "-" : ""}${whole}.${fraction}`
}

/**
 * The amount for people: `"$1,234.50"`, `"-$0.000004"`.
 *
 * @category formatting
 */
export const format = (money: Money): string => {
  const [whole = "0", fraction = "00"] = toDecimal(money).replace("-", "").split(".")
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")
  return `${money < 0 ? "-" : ""}$${grouped}.${fraction}`
}

// ---------------------------------------------------------------------------------------------------------------
// arithmetic

/** @category math */
export const add = (self: Money, that: Money): Money => make(self + that)

/** @category math */
export const subtract = (self: Money, that: Money): Money => make(self - that)

/** @category math */
export const negate = (self: Money): Money => make(-self)

/**
 * The sum of many amounts, exactly.
 *
 * @category math
 */
export const sum = (amounts: Iterable<Money>): Money => {
  let total = 0
  for (const amount of amounts) {
    total += amount
    if (!Number.isSafeInteger(total)) throw new RangeError(`Money out of range: sum exceeds ${total} µUSD`)
  }
  return make(total)
}

/**
 * `self × factor`, for whole-number factors (`multiply(price, 3)`).
 *
 * @category math
 */
export const multiply = (self: Money, factor: number): Money => {
  if (!Number.isSafeInteger(factor)) throw new RangeError(`Money can only be multiplied by integers, got ${factor}`)
  return fromBigMicros(BigInt(self) * BigInt(factor))
}

/**
 * `self × numerator / denominator`, rounded to the micro-dollar, ties to even: a price per `denominator`
 * units applied to `numerator` units (`scale(price1kTokens, tokens, 1000)`). Arguments must be integers.
 *
 * @category math
 */
export const scale = (self: Money, numerator: number | bigint, denominator: number | bigint): Money => {
  const n = BigInt(numerator)
  const d = BigInt(denominator)
  if (d === 0n) throw new RangeError("Money.scale: denominator is zero")
  return fromBigMicros(divideHalfEven(BigInt(self) * n, d))
}

/**
 * The part of `whole` that `part` is, as a fraction (0.5 for half); 0 when `whole` is zero and `part` is not
 * positive, `Infinity` when `whole` is zero and `part` is positive. For thresholds and gauges.
 *
 * @category math
 */
export const ratio = (part: Money, whole: Money): number =>
  whole === 0 ? (part > 0 ? Number.POSITIVE_INFINITY : 0) : part / whole

// ---------------------------------------------------------------------------------------------------------------
// comparison

/** @category ordering */
export const Order: Ord.Order<Money> = Ord.Number

/** @category ordering */
export const min = (self: Money, that: Money): Money => (self <= that ? self : that)

/** @category ordering */
export const max = (self: Money, that: Money): Money => (self >= that ? self : that)

/** @category predicates */
export const isNegative = (money: Money): boolean => money < 0

/** @category predicates */
export const isZero = (money: Money): boolean => money === 0

// ---------------------------------------------------------------------------------------------------------------
// schemas

/**
 * An integer count of micro-dollars, as stored in databases and ledgers (encoded as that integer).
 *
 * @category schemas
 */
export const MicroUsd = Schema.Int.check(
  Schema.makeFilter<number>((micros) => Number.isSafeInteger(micros), {
    expected: "a safe integer number of micro-dollars"
  })
).pipe(Schema.brand("Money"))

const decodeDollars = (input: string | number): Option.Option<Money> =>
  typeof input === "number" ? fromNumber(input) : fromDecimal(input)

/**
 * Dollars at the API boundary: decodes a decimal string (`"0.50"`) or a number (`0.5`) exactly, encodes as a
 * decimal string (`"0.50"`). Sub-micro-dollar digits round half to even.
 *
 * @category schemas
 */
export const Money = Schema.Union([Schema.String, Schema.Finite]).pipe(
  Schema.decodeTo(
    MicroUsd,
    SchemaTransformation.transformEffect<number, string | number>({
      decode: (input, options) =>
        Option.match(decodeDollars(input), {
          onNone: () =>
            Effect.fail(
              new SchemaIssue.InvalidValue(
                { message: `expected an amount of US dollars such as "0.50", got ${JSON.stringify(input)}` },
                input,
                options
              )
            ),
          onSome: Effect.succeed
        }),
      encode: (micros) => Effect.succeed(toDecimal(make(micros)))
    })
  )
)

/**
 * Dollars that must not be negative (limits, prices, estimates).
 *
 * @category schemas
 */
export const NonNegative = Money.check(
  Schema.makeFilter<Money>((money) => money >= 0, { message: "must not be negative" })
)
