import { assert, describe, expect, layer as suiteLayer } from "@effect/vitest"
import { Budget, Ids, Money } from "@ytempire/domain"
import * as BudgetLedger from "@ytempire/runtime/BudgetLedger"
import {
  Arbitrary,
  Cause,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  PubSub,
  Ref,
  Result,
  Schema,
  Stream
} from "effect"
import * as PgTest from "./utils/PgTest.ts"

// ---------------------------------------------------------------------------------------------------------------
// helpers

const usd = (text: string): Money.Money => Money.unsafeFromDecimal(text)
const cents = (count: number): Money.Money => Money.fromCents(count)

// Every test works in scopes of its own (the layer is shared by a suite, and on Postgres by restarts).
let counter = 0
const unique = (label: string): string => `${label}-${++counter}`
const channelDay = (label: string) =>
  Budget.ChannelDayScope.make({ channelId: Ids.ChannelId.make(unique(label)), day: "2026-11-22" })
const video = (label: string) => Budget.VideoScope.make({ videoId: Ids.VideoId.make(unique(label)) })
// Global scopes are shared by everyone in a period, so each test takes a period of its own.
const globalDay = () => Budget.GlobalDayScope.make({ day: `${2100 + ++counter}-11-22` })
const globalMonth = () => Budget.GlobalMonthScope.make({ month: `${2100 + ++counter}-11` })

const limited = (scope: Budget.BudgetScope, limit: Money.Money): BudgetLedger.ScopeLimit => ({
  scope,
  limit: Option.some(limit)
})
const unlimited = (scope: Budget.BudgetScope): BudgetLedger.ScopeLimit => ({ scope, limit: Option.none() })

/** The actual cost of the i-th video of the race, between $0.20 and $0.27. */
const actualCost = (i: number): Money.Money => cents(20 + (i % 8))

/** Alerts as `alertsOf` lists them. */
const at = (scope: Budget.BudgetScope, ...thresholds: ReadonlyArray<number>): ReadonlyArray<string> =>
  thresholds.map((threshold) => `${Budget.scopeKey(scope)}@${threshold}`)

const range = (count: number): ReadonlyArray<number> => Array.from({ length: count }, (_, i) => i)

/** Committed and reserved spend of each scope, in micro-dollars. */
const spend = Effect.fnUntraced(function*(scopes: ReadonlyArray<Budget.BudgetScope>) {
  const ledger = yield* BudgetLedger.BudgetLedger
  const status = yield* ledger.status(scopes)
  return status.map((s) => ({ committed: Money.toMicros(s.committed), reserved: Money.toMicros(s.reserved) }))
})

const spendOf = Effect.fnUntraced(function*(scope: Budget.BudgetScope) {
  const [one] = yield* spend([scope])
  return one!
})

const expectExceeded = (
  exit: Exit.Exit<unknown, unknown>,
  scope: Budget.BudgetScope
): Budget.BudgetExceeded => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail") : undefined
  assert.isDefined(error)
  const failure = error!._tag === "Fail" ? error!.error : undefined
  assert.instanceOf(failure, Budget.BudgetExceeded)
  const exceeded = failure as Budget.BudgetExceeded
  expect(Budget.scopeKey(exceeded.scope)).toBe(Budget.scopeKey(scope))
  return exceeded
}

/** The exit is a defect whose message contains `message`. */
const expectDefect = (exit: Exit.Exit<unknown, unknown>, message: string): void => {
  const die = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isDieReason) : undefined
  assert.isDefined(die, `expected a defect, got ${String(exit)}`)
  assert.instanceOf(die!.defect, Error)
  expect((die!.defect as Error).message).toContain(message)
}

/** A reservation's parts as `[partId, micro-dollars]`, in the order they were settled. */
const partsOf = (reservation: BudgetLedger.Reservation): ReadonlyArray<readonly [string, number]> =>
  reservation.parts.map((part) => [part.partId, Money.toMicros(part.amount)] as const)

/** The parts of a video of $0.27, stage by stage (they add up to the estimate). */
const videoParts: ReadonlyArray<readonly [partId: string, cents: number]> = [
  ["script", 2],
  ["voice", 5],
  ["thumbnail", 4],
  ["render", 10],
  ["publish", 6]
]

/** The parts of the i-th video of the whole-video race: its last part costs up to 2 cents less than its share. */
const videoPartsOf = (i: number): ReadonlyArray<readonly [partId: string, amount: Money.Money]> =>
  videoParts.map(([partId, c], k) => [partId, cents(k === videoParts.length - 1 ? c - (i % 3) : c)] as const)

const videoCostOf = (i: number): Money.Money => Money.sum(videoPartsOf(i).map(([, amount]) => amount))

/** Alerts taken from a subscription, as `key@threshold` strings, for the given scopes only. */
const alertsOf = (
  subscription: PubSub.Subscription<BudgetLedger.ThresholdCrossed>,
  scopes: ReadonlyArray<Budget.BudgetScope>
) =>
  Effect.map(PubSub.takeUpTo(subscription, 10_000), (alerts) => {
    const keys = new Set(scopes.map(Budget.scopeKey))
    return alerts.filter((alert) => keys.has(Budget.scopeKey(alert.scope))).map((alert) =>
      `${Budget.scopeKey(alert.scope)}@${alert.threshold}`
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// the suite, run against each layer

const suite = <R>(
  name: string,
  layer: Layer.Layer<BudgetLedger.BudgetLedger | R, unknown>,
  options: {
    /** Builds another ledger on the same storage, as a restarted process would; absent for memory. */
    readonly restart?: Layer.Layer<BudgetLedger.BudgetLedger, unknown, R>
  }
) =>
  suiteLayer(layer, { timeout: "30 seconds" })(name, (it) => {
    it.effect("race: of 200 concurrent reservations, exactly the 37 that fit succeed", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const estimate = usd("0.27")
        const limit = Money.multiply(estimate, 37) // $9.99: 37 estimates fit, 38 do not
        const day = globalDay()
        const month = globalMonth()
        const run = unique("race")
        const videos = range(200).map(() => video("race"))
        const results = yield* Effect.forEach(
          range(200),
          (i) =>
            ledger.reserve({
              reservationId: `${run}/${i}/script`,
              scopes: [limited(videos[i]!, usd("3.00")), limited(day, limit), unlimited(month)],
              amount: estimate
            }).pipe(Effect.exit),
          { concurrency: "unbounded" }
        )
        const won = range(200).filter((i) => Exit.isSuccess(results[i]!))
        expect(won).toHaveLength(37)
        for (const i of range(200)) {
          const exit = results[i]!
          if (Exit.isSuccess(exit)) continue
          const exceeded = expectExceeded(exit, day)
          expect(exceeded.limit).toBe(limit)
          expect(exceeded.needed).toBe(estimate)
        }
        expect(yield* spendOf(day)).toStrictEqual({ committed: 0, reserved: Money.toMicros(limit) })

        // Each winner is committed at its actual cost, between $0.20 and $0.27.
        yield* Effect.forEach(won, (i) => ledger.commit(`${run}/${i}/script`, actualCost(i)), {
          concurrency: "unbounded"
        })
        const total = Money.sum(won.map(actualCost))
        expect(yield* spendOf(day)).toStrictEqual({ committed: Money.toMicros(total), reserved: 0 })
        expect(total).toBeLessThanOrEqual(limit)
        expect(yield* spendOf(month)).toStrictEqual({ committed: Money.toMicros(total), reserved: 0 })
        const [status] = yield* ledger.status([day])
        expect(status!.limit).toBe(limit)
      }))

    it.effect("whole-video race: of 200 videos reserved whole at once, exactly the 37 that fit run to the end", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const estimate = usd("0.27")
        const limit = Money.multiply(estimate, 37)
        const day = globalDay()
        const month = globalMonth()
        const run = unique("whole")
        const videos = range(200).map(() => video("whole"))
        // Releases wait until every reservation is answered, so that no remainder freed early funds a 38th video
        // (a remainder is at most 2 cents, but 37 of them could add up to a video).
        const answered = yield* Ref.make(0)
        const allAnswered = yield* Deferred.make<void>()
        const answer = Ref.updateAndGet(answered, (n) => n + 1).pipe(
          Effect.flatMap((n) => n === 200 ? Deferred.succeed(allAnswered, undefined) : Effect.void)
        )
        // Each video: reserve its whole estimate, then settle its stages one by one (while the other videos are
        // still reserving), then release what its parts did not use.
        const pipeline = Effect.fnUntraced(function*(i: number) {
          const id = `${run}/${i}`
          const reserved = yield* ledger.reserve({
            reservationId: id,
            scopes: [limited(videos[i]!, usd("3.00")), limited(day, limit), unlimited(month)],
            amount: estimate
          }).pipe(Effect.ensuring(answer))
          expect(reserved.replayed).toBe(false)
          for (const [partId, amount] of videoPartsOf(i)) yield* ledger.settle(id, partId, amount)
          yield* Deferred.await(allAnswered)
          return Option.getOrThrow(yield* ledger.release(id))
        })
        const results = yield* Effect.forEach(range(200), (i) => Effect.exit(pipeline(i)), {
          concurrency: "unbounded"
        })
        const won = range(200).filter((i) => Exit.isSuccess(results[i]!))
        expect(won).toHaveLength(37)
        for (const i of range(200)) {
          const exit = results[i]!
          if (Exit.isFailure(exit)) {
            const exceeded = expectExceeded(exit, day)
            expect(exceeded.needed).toBe(estimate)
            expect(yield* spendOf(videos[i]!)).toStrictEqual({ committed: 0, reserved: 0 })
            continue
          }
          // Every funded video settled all of its parts, and holds nothing more.
          const reservation = exit.value
          expect(reservation.state).toBe("released")
          expect(partsOf(reservation)).toStrictEqual(
            videoPartsOf(i).map(([partId, amount]) => [partId, Money.toMicros(amount)])
          )
          expect(yield* spendOf(videos[i]!)).toStrictEqual({ committed: Money.toMicros(videoCostOf(i)), reserved: 0 })
        }
        const total = Money.sum(won.map(videoCostOf))
        expect(total).toBeLessThanOrEqual(limit)
        expect(yield* spendOf(day)).toStrictEqual({ committed: Money.toMicros(total), reserved: 0 })
        expect(yield* spendOf(month)).toStrictEqual({ committed: Money.toMicros(total), reserved: 0 })
      }))

    it.effect("idempotency: reserving, committing and releasing again changes nothing", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("idem")
        const id = unique("idem")
        const first = yield* ledger.reserve({
          reservationId: id,
          scopes: [limited(scope, usd("1"))],
          amount: cents(30)
        })
        expect(first.replayed).toBe(false)
        expect(first.reservation.state).toBe("reserved")
        const again = yield* ledger.reserve({
          reservationId: id,
          scopes: [limited(scope, usd("1"))],
          amount: cents(30)
        })
        expect(again.replayed).toBe(true)
        expect(again.reservation.amount).toBe(cents(30))
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 0, reserved: Money.toMicros(cents(30)) })

        const committed = yield* ledger.commit(id, cents(25))
        expect(committed.state).toBe("committed")
        expect(committed.actual).toBe(cents(25))
        const twice = yield* ledger.commit(id, cents(25))
        expect(twice.actual).toBe(cents(25))
        // A second commit of another amount is a no-op too: the first one stands.
        yield* ledger.commit(id, cents(29))
        expect(yield* spendOf(scope)).toStrictEqual({ committed: Money.toMicros(cents(25)), reserved: 0 })

        const released = yield* ledger.release(id)
        expect(Option.map(released, (r) => r.state)).toStrictEqual(Option.some("committed"))
        // A reserve replayed after the commit returns the committed reservation and reserves nothing.
        const replayed = yield* ledger.reserve({
          reservationId: id,
          scopes: [limited(scope, usd("1"))],
          amount: cents(30)
        })
        expect(replayed.replayed).toBe(true)
        expect(replayed.reservation.state).toBe("committed")
        expect(yield* spendOf(scope)).toStrictEqual({ committed: Money.toMicros(cents(25)), reserved: 0 })

        // Releasing twice frees once; releasing an unknown id does nothing.
        const other = unique("idem")
        yield* ledger.reserve({ reservationId: other, scopes: [limited(scope, usd("1"))], amount: cents(40) })
        yield* ledger.release(other)
        yield* ledger.release(other)
        expect(yield* spendOf(scope)).toStrictEqual({ committed: Money.toMicros(cents(25)), reserved: 0 })
        expect(yield* ledger.release(unique("nobody"))).toStrictEqual(Option.none())
      }))

    it.effect("idempotency under concurrency: the same id reserved 20 times at once reserves once", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("idem-concurrent")
        const id = unique("idem-concurrent")
        const results = yield* Effect.forEach(
          range(20),
          () => ledger.reserve({ reservationId: id, scopes: [limited(scope, usd("1"))], amount: cents(30) }),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => !r.replayed)).toHaveLength(1)
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 0, reserved: Money.toMicros(cents(30)) })
      }))

    it.effect("atomicity: a reservation refused in one scope changes none of the others", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const [a, b, c, d] = [channelDay("atom"), channelDay("atom"), channelDay("atom"), channelDay("atom")]
        yield* ledger.reserve({ reservationId: unique("fill"), scopes: [limited(b, usd("1"))], amount: cents(90) })
        yield* ledger.reserve({ reservationId: unique("fill"), scopes: [limited(d, usd("1"))], amount: cents(95) })
        yield* ledger.reserve({ reservationId: unique("fill"), scopes: [limited(a, usd("1"))], amount: cents(10) })
        const before = yield* spend([a, b, c, d])

        const id = unique("atom")
        const exit = yield* ledger.reserve({
          reservationId: id,
          scopes: [limited(a, usd("1")), limited(b, usd("1")), unlimited(c), limited(d, usd("1"))],
          amount: cents(20)
        }).pipe(Effect.exit)
        // b and d are both full; b comes first in the request.
        const exceeded = expectExceeded(exit, b)
        expect(exceeded.limit).toBe(usd("1"))
        expect(exceeded.committed).toBe(Money.zero)
        expect(exceeded.needed).toBe(cents(20))
        expect(yield* spend([a, b, c, d])).toStrictEqual(before)

        // The refused id was not recorded: once there is room, it reserves for real.
        expect(yield* ledger.release(id)).toStrictEqual(Option.none())
        const later = yield* ledger.reserve({
          reservationId: id,
          scopes: [limited(a, usd("1")), limited(b, usd("2")), unlimited(c), limited(d, usd("2"))],
          amount: cents(20)
        })
        expect(later.replayed).toBe(false)
        expect(later.reservation.scopes.map(Budget.scopeKey)).toStrictEqual([a, b, c, d].map(Budget.scopeKey))
        expect(yield* spend([a, b, c, d])).toStrictEqual([
          { committed: 0, reserved: Money.toMicros(cents(30)) },
          { committed: 0, reserved: Money.toMicros(cents(110)) },
          { committed: 0, reserved: Money.toMicros(cents(20)) },
          { committed: 0, reserved: Money.toMicros(cents(115)) }
        ])
      }))

    it.effect("commit frees what it does not use, release frees everything, and the level follows spend", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("settle")
        const small = unique("settle")
        const first = yield* ledger.reserve({
          reservationId: small,
          scopes: [limited(scope, usd("1"))],
          amount: cents(50)
        })
        expect(first.level).toBe("normal")
        yield* ledger.commit(small, cents(20))
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 200_000, reserved: 0 })

        const big = unique("settle")
        const second = yield* ledger.reserve({
          reservationId: big,
          scopes: [limited(scope, usd("1"))],
          amount: cents(70)
        })
        expect(second.level).toBe("soft") // 90 %
        yield* ledger.release(big)
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 200_000, reserved: 0 })

        const full = yield* ledger.reserve({
          reservationId: unique("settle"),
          scopes: [limited(scope, usd("1"))],
          amount: cents(80)
        })
        expect(full.level).toBe("hard")
        const [status] = yield* ledger.status([scope])
        expect(status).toMatchObject({ committed: cents(20), reserved: cents(80), level: "hard", limit: usd("1") })
        // Against a higher limit given by the caller, the same spend is normal.
        const [relaxed] = yield* ledger.status([limited(scope, usd("10"))])
        expect(relaxed!.level).toBe("normal")
        // A scope never used: nothing spent, no limit recorded.
        const [unused] = yield* ledger.status([channelDay("unused")])
        expect(unused!.committed).toBe(Money.zero)
        expect(unused!.limit).toBeUndefined()
        expect(unused!.level).toBe("normal")
      }))

    it.effect("commit above the estimate: allowed within the limits, else BudgetExceeded and nothing changes", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("over")
        const tracked = channelDay("over")
        const a = unique("over")
        yield* ledger.reserve({
          reservationId: a,
          scopes: [limited(scope, usd("1")), unlimited(tracked)],
          amount: cents(40)
        })
        const b = unique("over")
        yield* ledger.reserve({
          reservationId: b,
          scopes: [limited(scope, usd("1")), unlimited(tracked)],
          amount: cents(40)
        })
        // 80 reserved: a may cost up to 60 (excess 20 fits), not 61.
        const exit = yield* ledger.commit(a, cents(61)).pipe(Effect.exit)
        const exceeded = expectExceeded(exit, scope)
        expect(exceeded.needed).toBe(cents(21))
        expect(yield* spend([scope, tracked])).toStrictEqual([
          { committed: 0, reserved: 800_000 },
          { committed: 0, reserved: 800_000 }
        ])
        const committed = yield* ledger.commit(a, cents(60))
        expect(committed.actual).toBe(cents(60))
        expect(yield* spend([scope, tracked])).toStrictEqual([
          { committed: 600_000, reserved: 400_000 },
          { committed: 600_000, reserved: 400_000 }
        ])
        // A commit after a release charges the full actual cost, within the limits.
        yield* ledger.release(b)
        const late = yield* ledger.commit(b, cents(40))
        expect(late.state).toBe("committed")
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 1_000_000, reserved: 0 })

        const unknown = yield* ledger.commit(unique("nobody"), cents(1)).pipe(Effect.flip)
        assert.instanceOf(unknown, BudgetLedger.ReservationNotFound)
      }))

    it.effect("settle: each part moves from reserved to committed in every scope; the reservation stays open", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const [v, day, month] = [video("parts"), channelDay("parts"), globalMonth()]
        const id = unique("parts")
        const request: BudgetLedger.ReserveRequest = {
          reservationId: id,
          scopes: [limited(v, usd("3")), limited(day, usd("1")), unlimited(month)],
          amount: cents(27)
        }
        yield* ledger.reserve(request)
        let settled = 0
        let last: BudgetLedger.Settled | undefined
        for (const [partId, amount] of videoParts) {
          last = yield* ledger.settle(id, partId, cents(amount))
          settled += amount
          expect(last.replayed).toBe(false)
          expect(last.part).toStrictEqual(new BudgetLedger.SettledPart({ partId, amount: cents(amount) }))
          expect(last.reservation.state).toBe("reserved")
          expect(last.reservation.settled).toBe(cents(settled))
          expect(last.reservation.remaining).toBe(cents(27 - settled))
          expect(last.level).toBe("normal")
          const every = { committed: Money.toMicros(cents(settled)), reserved: Money.toMicros(cents(27 - settled)) }
          expect(yield* spend([v, day, month])).toStrictEqual([every, every, every])
        }
        expect(partsOf(last!.reservation)).toStrictEqual(videoParts.map(([partId, c]) => [partId, c * 10_000]))
        // A replayed reserve answers the reservation with its parts, and reserves nothing.
        const replay = yield* ledger.reserve(request)
        expect(replay.replayed).toBe(true)
        expect(replay.reservation).toStrictEqual(last!.reservation)

        // Every part used its share: release frees nothing more, and closes the reservation.
        const released = yield* ledger.release(id)
        assert.isTrue(Option.isSome(released))
        const closed = Option.getOrThrow(released)
        expect(closed.state).toBe("released")
        expect(closed.settled).toBe(cents(27))
        expect(closed.remaining).toBe(Money.zero)
        expect(partsOf(closed)).toStrictEqual(partsOf(last!.reservation))
        const done = { committed: Money.toMicros(cents(27)), reserved: 0 }
        expect(yield* spend([v, day, month])).toStrictEqual([done, done, done])
      }))

    it.effect("release after some parts frees only the remainder, and the parts stay committed", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("remainder")
        const tracked = channelDay("remainder")
        const scopes = [limited(scope, usd("1")), unlimited(tracked)]
        const other = unique("remainder")
        yield* ledger.reserve({ reservationId: other, scopes, amount: cents(30) })
        const id = unique("remainder")
        yield* ledger.reserve({ reservationId: id, scopes, amount: cents(40) })
        yield* ledger.settle(id, "script", cents(10))
        yield* ledger.settle(id, "voice", cents(5))
        const open = { committed: 150_000, reserved: 550_000 }
        expect(yield* spend([scope, tracked])).toStrictEqual([open, open])

        const released = Option.getOrThrow(yield* ledger.release(id))
        expect(released.state).toBe("released")
        expect(partsOf(released)).toStrictEqual([["script", 100_000], ["voice", 50_000]])
        expect(released.settled).toBe(cents(15))
        expect(released.remaining).toBe(Money.zero)
        // 25 freed; the other reservation's 30 still held.
        const after = { committed: 150_000, reserved: 300_000 }
        expect(yield* spend([scope, tracked])).toStrictEqual([after, after])
        const again = Option.getOrThrow(yield* ledger.release(id))
        expect(again).toStrictEqual(released)
        expect(yield* spend([scope, tracked])).toStrictEqual([after, after])
        const replay = yield* ledger.reserve({ reservationId: id, scopes, amount: cents(40) })
        expect(replay.reservation).toStrictEqual(released)

        yield* ledger.release(other)
        const end = { committed: 150_000, reserved: 0 }
        expect(yield* spend([scope, tracked])).toStrictEqual([end, end])
      }))

    it.effect("settle idempotency: the same part settled again, or at once, is charged once", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("settle-idem")
        const id = unique("settle-idem")
        yield* ledger.reserve({ reservationId: id, scopes: [limited(scope, usd("1"))], amount: cents(30) })
        const first = yield* ledger.settle(id, "script", cents(10))
        const again = yield* ledger.settle(id, "script", cents(10))
        expect(again.replayed).toBe(true)
        expect(again.reservation).toStrictEqual(first.reservation)
        expect(again.part).toStrictEqual(first.part)
        expect(again.level).toBe(first.level)
        // Another amount for the same part is a no-op too: the first one stands.
        const other = yield* ledger.settle(id, "script", cents(25))
        expect(other.replayed).toBe(true)
        expect(other.part.amount).toBe(cents(10))
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 100_000, reserved: 200_000 })

        // One part settled 20 times at once, and 10 other parts at once: each part charged once.
        const same = yield* Effect.forEach(range(20), () => ledger.settle(id, "voice", cents(5)), {
          concurrency: "unbounded"
        })
        expect(same.filter((answer) => !answer.replayed)).toHaveLength(1)
        expect(same.every((answer) => answer.part.amount === cents(5))).toBe(true)
        yield* Effect.forEach(range(10), (i) => ledger.settle(id, `extra-${i}`, cents(1)), {
          concurrency: "unbounded"
        })
        const last = yield* ledger.settle(id, "voice", cents(5))
        expect(last.reservation.parts).toHaveLength(12)
        expect(last.reservation.settled).toBe(cents(25))
        expect(last.reservation.remaining).toBe(cents(5))
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 250_000, reserved: 50_000 })
      }))

    it.effect("settle above what remains: allowed within the limits, else BudgetExceeded and nothing changes", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const subscription = yield* ledger.subscribe
        const scope = channelDay("settle-over")
        const tracked = channelDay("settle-over")
        const scopes = [limited(scope, usd("1")), unlimited(tracked)]
        const [a, b] = [unique("settle-over"), unique("settle-over")]
        yield* ledger.reserve({ reservationId: a, scopes, amount: cents(40) })
        yield* ledger.reserve({ reservationId: b, scopes, amount: cents(40) })
        expect(yield* alertsOf(subscription, [scope])).toStrictEqual(at(scope, 0.5, 0.8))
        const first = yield* ledger.settle(a, "script", cents(30))
        expect(first.reservation.remaining).toBe(cents(10))

        // 80 held, 10 of it by a: a's next part may cost up to 30 (excess 20 fits), not 31.
        const refused = yield* ledger.settle(a, "voice", cents(31)).pipe(Effect.exit)
        const exceeded = expectExceeded(refused, scope)
        expect(exceeded.needed).toBe(cents(21))
        expect(exceeded.limit).toBe(usd("1"))
        const unchanged = { committed: 300_000, reserved: 500_000 }
        expect(yield* spend([scope, tracked])).toStrictEqual([unchanged, unchanged])
        const view = yield* ledger.reserve({ reservationId: a, scopes, amount: cents(40) })
        expect(partsOf(view.reservation)).toStrictEqual([["script", 300_000]])
        expect(yield* alertsOf(subscription, [scope])).toStrictEqual([])

        const second = yield* ledger.settle(a, "voice", cents(30))
        expect(second.reservation.remaining).toBe(Money.zero)
        expect(second.reservation.settled).toBe(cents(60))
        expect(second.level).toBe("hard")
        const full = { committed: 600_000, reserved: 400_000 }
        expect(yield* spend([scope, tracked])).toStrictEqual([full, full])
        expect(yield* alertsOf(subscription, [scope])).toStrictEqual(at(scope, 0.9, 1))
        // Nothing remains and the scope is full: even a cent more is refused.
        const more = expectExceeded(yield* ledger.settle(a, "render", cents(1)).pipe(Effect.exit), scope)
        expect(more.needed).toBe(cents(1))
        expect(yield* spend([scope, tracked])).toStrictEqual([full, full])

        // After a release, a late part is charged whole, within the limits; the reservation stays released.
        yield* ledger.release(b)
        yield* ledger.release(a)
        const late = yield* ledger.settle(a, "render", cents(15))
        expect(late.reservation.state).toBe("released")
        expect(late.reservation.settled).toBe(cents(75))
        const lateOver = expectExceeded(yield* ledger.settle(a, "publish", cents(26)).pipe(Effect.exit), scope)
        expect(lateOver.needed).toBe(cents(26))
        const end = { committed: 750_000, reserved: 0 }
        expect(yield* spend([scope, tracked])).toStrictEqual([end, end])
      }))

    it.effect("a reservation is settled whole or in parts, never both; unknown ids are refused", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const scope = channelDay("mixed")
        const scopes = [limited(scope, usd("1"))]
        const parts = unique("mixed")
        yield* ledger.reserve({ reservationId: parts, scopes, amount: cents(30) })
        yield* ledger.settle(parts, "script", cents(10))
        // Commit on a reservation with parts is a defect, and changes nothing.
        expectDefect(yield* ledger.commit(parts, cents(20)).pipe(Effect.exit), "is settled in parts")
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 100_000, reserved: 200_000 })
        yield* ledger.release(parts)
        expectDefect(yield* ledger.commit(parts, cents(20)).pipe(Effect.exit), "is settled in parts")
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 100_000, reserved: 0 })

        // Settle on a reservation committed whole is a defect too.
        const whole = unique("mixed")
        yield* ledger.reserve({ reservationId: whole, scopes, amount: cents(30) })
        yield* ledger.commit(whole, cents(20))
        expectDefect(yield* ledger.settle(whole, "script", cents(5)).pipe(Effect.exit), "was committed whole")
        expect(yield* spendOf(scope)).toStrictEqual({ committed: 300_000, reserved: 0 })

        const unknown = yield* ledger.settle(unique("nobody"), "script", cents(1)).pipe(Effect.flip)
        assert.instanceOf(unknown, BudgetLedger.ReservationNotFound)
        expectDefect(yield* ledger.settle(whole, "", cents(1)).pipe(Effect.exit), "part id")
        expectDefect(yield* ledger.settle(whole, "script", Money.fromMicros(-1)).pipe(Effect.exit), "non-negative")
      }))

    it.effect("threshold alerts: once each, in order, per scope", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const subscription = yield* ledger.subscribe
        const a = channelDay("alerts")
        const b = channelDay("alerts")
        const reserve = (amount: Money.Money, ...scopes: ReadonlyArray<Budget.BudgetScope>) =>
          ledger.reserve({
            reservationId: unique("alerts"),
            scopes: scopes.map((scope) => limited(scope, usd("1"))),
            amount
          })

        yield* reserve(cents(40), a)
        expect(yield* alertsOf(subscription, [a, b])).toStrictEqual([])
        const r = yield* reserve(cents(15), a) // 55 %
        expect(yield* alertsOf(subscription, [a, b])).toStrictEqual(at(a, 0.5))
        yield* reserve(cents(92), b) // b: 50, 80 and 90 at once, in order
        expect(yield* alertsOf(subscription, [a, b])).toStrictEqual(at(b, 0.5, 0.8, 0.9))
        yield* ledger.release(r.reservation.reservationId) // a back to 40 %
        yield* reserve(cents(15), a) // 55 % again: 50 % was already emitted
        expect(yield* alertsOf(subscription, [a, b])).toStrictEqual([])
        const c = yield* reserve(cents(30), a) // 85 %
        yield* ledger.commit(c.reservation.reservationId, cents(40)) // 95 % by a commit above the estimate
        yield* reserve(cents(5), a) // 100 %
        yield* reserve(cents(8), b) // 100 %
        expect(yield* alertsOf(subscription, [a, b])).toStrictEqual([...at(a, 0.8, 0.9, 1), ...at(b, 1)])

        // The stream sees the same alerts, from when it starts.
        const d = channelDay("alerts")
        const fiber = yield* ledger.thresholdCrossings.pipe(
          Stream.filter((alert) => Budget.scopeKey(alert.scope) === Budget.scopeKey(d)),
          Stream.take(2),
          Stream.runCollect,
          Effect.forkChild
        )
        yield* Effect.yieldNow
        yield* reserve(cents(85), d)
        const streamed = yield* Fiber.join(fiber)
        expect(streamed.map((alert) => alert.threshold)).toStrictEqual([0.5, 0.8])
      }))

    if (options.restart !== undefined) {
      const restart = options.restart
      it.effect("threshold alerts are not emitted again after a restart on the same database", () =>
        Effect.gen(function*() {
          const ledger = yield* BudgetLedger.BudgetLedger
          const scope = channelDay("restart")
          const first = yield* ledger.subscribe
          const id = unique("restart")
          yield* ledger.reserve({ reservationId: id, scopes: [limited(scope, usd("1"))], amount: cents(60) })
          expect(yield* alertsOf(first, [scope])).toHaveLength(1)
          yield* ledger.release(id)

          // A new ledger on the same database, as after a restart of the process.
          const alerts = yield* Effect.gen(function*() {
            const restarted = yield* BudgetLedger.BudgetLedger
            const subscription = yield* restarted.subscribe
            // The reservation made before the restart is still there.
            const replay = yield* restarted.reserve({
              reservationId: id,
              scopes: [limited(scope, usd("1"))],
              amount: cents(60)
            })
            expect(replay.reservation.state).toBe("released")
            yield* restarted.reserve({
              reservationId: unique("restart"),
              scopes: [limited(scope, usd("1"))],
              amount: cents(85)
            })
            return yield* alertsOf(subscription, [scope])
          }).pipe(Effect.provide(Layer.fresh(restart)))
          expect(alerts).toStrictEqual([`${Budget.scopeKey(scope)}@0.8`])
        }))

      it.effect("settled parts survive a restart on the same database", () =>
        Effect.gen(function*() {
          const ledger = yield* BudgetLedger.BudgetLedger
          const scope = channelDay("restart-parts")
          const id = unique("restart-parts")
          const request = { reservationId: id, scopes: [limited(scope, usd("1"))], amount: cents(27) }
          yield* ledger.reserve(request)
          yield* ledger.settle(id, "script", cents(2))
          yield* ledger.settle(id, "voice", cents(5))

          yield* Effect.gen(function*() {
            const restarted = yield* BudgetLedger.BudgetLedger
            const replay = yield* restarted.reserve(request)
            expect(partsOf(replay.reservation)).toStrictEqual([["script", 20_000], ["voice", 50_000]])
            expect(replay.reservation.remaining).toBe(cents(20))
            const again = yield* restarted.settle(id, "voice", cents(9))
            expect(again.replayed).toBe(true)
            expect(again.part.amount).toBe(cents(5))
            const next = yield* restarted.settle(id, "thumbnail", cents(4))
            expect(next.reservation.remaining).toBe(cents(16))
            const released = Option.getOrThrow(yield* restarted.release(id))
            expect(released.settled).toBe(cents(11))
          }).pipe(Effect.provide(Layer.fresh(restart)))
          expect(yield* spendOf(scope)).toStrictEqual({ committed: 110_000, reserved: 0 })
        }))
    }

    it.effect("interruption: interrupted reservations and commits never over-commit nor half-apply", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const estimate = usd("0.27")
        const limit = Money.multiply(estimate, 37)
        const day = globalDay()
        const run = unique("interrupt")
        const videos = range(200).map(() => video("interrupt"))
        const request = (i: number): BudgetLedger.ReserveRequest => ({
          reservationId: `${run}/${i}`,
          scopes: [limited(videos[i]!, usd("3")), limited(day, limit)],
          amount: estimate
        })
        // The ledger holds exactly what the reservations in the video scopes say, and no more than the limit.
        const audit = Effect.gen(function*() {
          const perVideo = yield* spend(videos)
          const total = yield* spendOf(day)
          for (const s of perVideo) {
            expect([0, Money.toMicros(estimate)]).toContain(s.committed + s.reserved)
          }
          expect(total.committed).toBe(perVideo.reduce((sum, s) => sum + s.committed, 0))
          expect(total.reserved).toBe(perVideo.reduce((sum, s) => sum + s.reserved, 0))
          expect(total.committed + total.reserved).toBeLessThanOrEqual(Money.toMicros(limit))
          return perVideo
        })

        // Interrupt 200 reservations in flight, once ten have gone through.
        const done = yield* Ref.make(0)
        const tenDone = yield* Deferred.make<void>()
        const fibers = yield* Effect.forEach(range(200), (i) =>
          ledger.reserve(request(i)).pipe(
            Effect.tap(() =>
              Ref.updateAndGet(done, (n) => n + 1).pipe(
                Effect.flatMap((n) => n === 10 ? Deferred.succeed(tenDone, undefined) : Effect.void)
              )
            ),
            Effect.forkChild
          ))
        yield* Deferred.await(tenDone)
        yield* Fiber.interruptAll(fibers)
        const afterInterrupt = yield* audit
        const applied = range(200).filter((i) => afterInterrupt[i]!.reserved > 0)
        expect(applied.length).toBeGreaterThanOrEqual(10)
        expect(applied.length).toBeLessThanOrEqual(37)

        // Resuming runs every reservation again: those applied before are replayed, and 37 in all hold.
        const resumed = yield* Effect.forEach(range(200), (i) => ledger.reserve(request(i)).pipe(Effect.exit), {
          concurrency: "unbounded"
        })
        const replayed = range(200).filter((i) => {
          const exit = resumed[i]!
          return Exit.isSuccess(exit) && exit.value.replayed
        })
        expect(replayed).toStrictEqual(applied)
        expect(resumed.filter(Exit.isSuccess)).toHaveLength(37)
        yield* audit

        // Interrupt commits in flight too.
        const holders = range(200).filter((i) => Exit.isSuccess(resumed[i]!))
        const commits = yield* Effect.forEach(
          holders,
          (i) => ledger.commit(`${run}/${i}`, estimate).pipe(Effect.forkChild)
        )
        yield* Effect.yieldNow
        yield* Fiber.interruptAll(commits)
        yield* audit
        yield* Effect.forEach(holders, (i) => ledger.commit(`${run}/${i}`, estimate), { concurrency: "unbounded" })
        expect(yield* spendOf(day)).toStrictEqual({ committed: Money.toMicros(limit), reserved: 0 })
      }))

    it.effect("interruption: interrupted settles never half-apply a part; resumed, each part is charged once", () =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const estimate = usd("0.27")
        const count = 37
        const limit = Money.multiply(estimate, count)
        const day = globalDay()
        const run = unique("interrupt-settle")
        const videos = range(count).map(() => video("interrupt-settle"))
        const request = (i: number): BudgetLedger.ReserveRequest => ({
          reservationId: `${run}/${i}`,
          scopes: [limited(videos[i]!, usd("3")), limited(day, limit)],
          amount: estimate
        })
        yield* Effect.forEach(range(count), (i) => ledger.reserve(request(i)), { concurrency: "unbounded" })
        const settles = range(count).flatMap((i) => videoParts.map(([partId, c]) => ({ i, partId, amount: cents(c) })))

        // Each reservation holds exactly what its recorded parts say, whole parts only.
        const audit = Effect.gen(function*() {
          const reservations = yield* Effect.forEach(range(count), (i) =>
            Effect.map(ledger.reserve(request(i)), (replay) => {
              expect(replay.replayed).toBe(true)
              return replay.reservation
            }))
          const perVideo = yield* spend(videos)
          for (const i of range(count)) {
            const reservation = reservations[i]!
            for (const [partId, micros] of partsOf(reservation)) {
              expect(
                videoParts.find(([id]) =>
                  id === partId
                )![1] * 10_000
              ).toBe(micros)
            }
            expect(perVideo[i]).toStrictEqual({
              committed: Money.toMicros(reservation.settled),
              reserved: Money.toMicros(reservation.remaining)
            })
          }
          const total = yield* spendOf(day)
          expect(total.committed).toBe(perVideo.reduce((sum, s) => sum + s.committed, 0))
          expect(total.reserved).toBe(perVideo.reduce((sum, s) => sum + s.reserved, 0))
          expect(total.committed + total.reserved).toBe(Money.toMicros(limit))
          return reservations
        })

        // Interrupt all the settles in flight, once 20 have gone through.
        const done = yield* Ref.make(0)
        const twentyDone = yield* Deferred.make<void>()
        const fibers = yield* Effect.forEach(settles, ({ amount, i, partId }) =>
          ledger.settle(`${run}/${i}`, partId, amount).pipe(
            Effect.tap(() =>
              Ref.updateAndGet(done, (n) =>
                n + 1).pipe(
                  Effect.flatMap((n) =>
                    n === 20 ? Deferred.succeed(twentyDone, undefined) : Effect.void
                  )
                )
            ),
            Effect.forkChild
          ))
        yield* Deferred.await(twentyDone)
        yield* Fiber.interruptAll(fibers)
        const afterInterrupt = yield* audit
        const applied = settles.filter(({ i, partId }) =>
          afterInterrupt[i]!.parts.some((part) => part.partId === partId)
        )
        expect(applied.length).toBeGreaterThanOrEqual(20)

        // Resuming settles every part again: those applied before are replayed, none is charged twice.
        const resumed = yield* Effect.forEach(
          settles,
          ({ amount, i, partId }) => ledger.settle(`${run}/${i}`, partId, amount),
          { concurrency: "unbounded" }
        )
        expect(settles.filter((_, k) => resumed[k]!.replayed)).toStrictEqual(applied)
        const final = yield* audit
        for (const reservation of final) expect(reservation.settled).toBe(estimate)

        // Interrupt releases in flight too: each releases whole or not at all.
        const releases = yield* Effect.forEach(
          range(count),
          (i) => ledger.release(`${run}/${i}`).pipe(Effect.forkChild)
        )
        yield* Effect.yieldNow
        yield* Fiber.interruptAll(releases)
        yield* audit
        yield* Effect.forEach(range(count), (i) => ledger.release(`${run}/${i}`), { concurrency: "unbounded" })
        expect(yield* spendOf(day)).toStrictEqual({ committed: Money.toMicros(limit), reserved: 0 })
      }))

    it.effect.prop(
      "random reserve / commit / settle / release: the invariant holds after every step and totals match a model",
      { ops: Operations },
      ({ ops }) =>
        Effect.gen(function*() {
          const ledger = yield* BudgetLedger.BudgetLedger
          const subscription = yield* ledger.subscribe
          const scopes = [channelDay("prop"), channelDay("prop"), channelDay("prop")] as const
          const model = new Model()
          const ids = range(slots).map(() => unique("prop"))
          const scopesOf = (mask: number) =>
            range(3).filter((i) => (mask & (1 << i)) !== 0).map((i) => ({
              scope: scopes[i]!,
              limit: modelLimits[i]!
            }))

          for (const op of ops) {
            switch (op._tag) {
              case "reserve": {
                const picked = scopesOf(op.scopes)
                const exit = yield* ledger.reserve({
                  reservationId: ids[op.slot]!,
                  scopes: picked,
                  amount: cents(op.cents)
                }).pipe(Effect.exit)
                const expected = model.reserve(op.slot, picked.map((_) => scopes.indexOf(_.scope)), cents(op.cents))
                checkOutcome(exit, expected, scopes)
                break
              }
              case "commit": {
                const exit = yield* ledger.commit(ids[op.slot]!, cents(op.cents)).pipe(Effect.exit)
                checkOutcome(exit, model.commit(op.slot, cents(op.cents)), scopes)
                break
              }
              case "settle": {
                const partId = `part-${op.part}`
                const exit = yield* ledger.settle(ids[op.slot]!, partId, cents(op.cents)).pipe(Effect.exit)
                checkOutcome(exit, model.settle(op.slot, partId, cents(op.cents)), scopes)
                if (Exit.isSuccess(exit)) {
                  // The answer is the reservation as the model has it: its parts, what they settled, what remains.
                  const expected = model.reservations.get(op.slot)!
                  const reservation = exit.value.reservation
                  expect(reservation.state).toBe(expected.state)
                  expect(partsOf(reservation)).toStrictEqual(
                    [...expected.parts].map(([id, amount]) => [id, Money.toMicros(amount)])
                  )
                  expect(reservation.remaining).toBe(model.remaining(op.slot))
                  expect(exit.value.part.amount).toBe(expected.parts.get(partId))
                }
                break
              }
              case "release": {
                const exit = yield* ledger.release(ids[op.slot]!).pipe(Effect.exit)
                assert.isTrue(Exit.isSuccess(exit))
                model.release(op.slot)
                break
              }
            }
            const status = yield* ledger.status(scopes)
            for (const i of range(3)) {
              const s = status[i]!
              expect({ committed: s.committed, reserved: s.reserved }).toStrictEqual(model.rows[i])
              const limit = modelLimits[i]!
              if (Option.isSome(limit)) expect(Money.add(s.committed, s.reserved)).toBeLessThanOrEqual(limit.value)
            }
          }
          // Alerts: exactly the thresholds the highest spend reached, once each, ascending.
          const alerts = yield* alertsOf(subscription, scopes)
          const expected = range(3).flatMap((i) =>
            Option.match(modelLimits[i]!, {
              onNone: () => [],
              onSome: (limit) =>
                Budget.alertThresholds.filter((t) => Budget.reached(model.highest[i]!, limit, t)).map((t) =>
                  `${Budget.scopeKey(scopes[i]!)}@${t}`
                )
            })
          )
          expect(alerts.toSorted()).toStrictEqual(expected.toSorted())
          for (const scope of scopes) {
            const mine = alerts.filter((alert) => alert.startsWith(`${Budget.scopeKey(scope)}@`))
            expect(mine).toStrictEqual(expected.filter((alert) => alert.startsWith(`${Budget.scopeKey(scope)}@`)))
          }
        }),
      { arbitrary: { runs: 50 } }
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// the model of the property test

const slots = 8
const modelLimits: ReadonlyArray<Option.Option<Money.Money>> = [
  Option.some(usd("1")),
  Option.some(usd("0.60")),
  Option.none()
]

const Slot = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: slots - 1 }))
const Cents = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 45 }))
const Operation = Schema.Union([
  Schema.TaggedStruct("reserve", {
    slot: Slot,
    cents: Cents,
    scopes: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 7 }))
  }),
  Schema.TaggedStruct("commit", { slot: Slot, cents: Cents }),
  Schema.TaggedStruct("settle", {
    slot: Slot,
    part: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 })),
    cents: Cents
  }),
  Schema.TaggedStruct("release", { slot: Slot })
])
const Operations = Arbitrary.array(Arbitrary.schema(Operation), { minLength: 10, maxLength: 40 })

type Expected = Result.Result<void, { readonly exceeded: number } | "not found" | "defect">

class Model {
  readonly rows = range(3).map(() => ({ committed: Money.zero, reserved: Money.zero }))
  readonly highest = range(3).map(() => Money.zero)
  readonly reservations = new Map<
    number,
    {
      readonly scopes: ReadonlyArray<number>
      readonly amount: Money.Money
      state: "reserved" | "committed" | "released"
      /** Settled parts, in the order they were settled. */
      readonly parts: Map<string, Money.Money>
    }
  >()

  /** What a reservation still holds: while reserved, its amount less its parts, never below zero. */
  remaining(slot: number): Money.Money {
    const reservation = this.reservations.get(slot)
    if (reservation === undefined || reservation.state !== "reserved") return Money.zero
    return Money.max(Money.zero, Money.subtract(reservation.amount, Money.sum(reservation.parts.values())))
  }

  private admits(i: number, needed: Money.Money): boolean {
    const row = this.rows[i]!
    return Option.match(modelLimits[i]!, {
      onNone: () => true,
      onSome: (limit) => Budget.admits(limit, row.committed, row.reserved, needed)
    })
  }

  private move(scopes: ReadonlyArray<number>, committed: Money.Money, reserved: Money.Money): void {
    for (const i of scopes) {
      const row = this.rows[i]!
      row.committed = Money.add(row.committed, committed)
      row.reserved = Money.add(row.reserved, reserved)
      this.highest[i] = Money.max(this.highest[i]!, Money.add(row.committed, row.reserved))
    }
  }

  reserve(slot: number, scopes: ReadonlyArray<number>, amount: Money.Money): Expected {
    if (this.reservations.has(slot)) return Result.succeed(undefined)
    const refused = scopes.find((i) => !this.admits(i, amount))
    if (refused !== undefined) return Result.fail({ exceeded: refused })
    this.move(scopes, Money.zero, amount)
    this.reservations.set(slot, { scopes, amount, state: "reserved", parts: new Map() })
    return Result.succeed(undefined)
  }

  commit(slot: number, actual: Money.Money): Expected {
    const reservation = this.reservations.get(slot)
    if (reservation === undefined) return Result.fail("not found")
    if (reservation.state === "committed") return Result.succeed(undefined)
    if (reservation.parts.size > 0) return Result.fail("defect")
    const held = this.remaining(slot)
    const excess = Money.subtract(actual, held)
    if (excess > 0) {
      const refused = reservation.scopes.find((i) => !this.admits(i, excess))
      if (refused !== undefined) return Result.fail({ exceeded: refused })
    }
    this.move(reservation.scopes, actual, Money.negate(held))
    reservation.state = "committed"
    return Result.succeed(undefined)
  }

  settle(slot: number, partId: string, actual: Money.Money): Expected {
    const reservation = this.reservations.get(slot)
    if (reservation === undefined) return Result.fail("not found")
    if (reservation.parts.has(partId)) return Result.succeed(undefined)
    if (reservation.state === "committed") return Result.fail("defect")
    const freed = Money.min(this.remaining(slot), actual)
    const excess = Money.subtract(actual, freed)
    if (excess > 0) {
      const refused = reservation.scopes.find((i) => !this.admits(i, excess))
      if (refused !== undefined) return Result.fail({ exceeded: refused })
    }
    this.move(reservation.scopes, actual, Money.negate(freed))
    reservation.parts.set(partId, actual)
    return Result.succeed(undefined)
  }

  release(slot: number): void {
    const reservation = this.reservations.get(slot)
    if (reservation === undefined || reservation.state !== "reserved") return
    this.move(reservation.scopes, Money.zero, Money.negate(this.remaining(slot)))
    reservation.state = "released"
  }
}

const checkOutcome = (
  exit: Exit.Exit<unknown, unknown>,
  expected: Expected,
  scopes: ReadonlyArray<Budget.BudgetScope>
): void => {
  if (Result.isSuccess(expected)) {
    assert.isTrue(Exit.isSuccess(exit), `expected success, got ${String(exit)}`)
  } else if (expected.failure === "defect") {
    expectDefect(exit, "BudgetLedger")
  } else if (expected.failure === "not found") {
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    assert.isTrue(error?._tag === "Fail" && error.error instanceof BudgetLedger.ReservationNotFound)
  } else {
    expectExceeded(exit, scopes[expected.failure.exceeded]!)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the layers

describe("BudgetLedger", () => {
  suite("layerMemory", BudgetLedger.BudgetLedger.layerMemory, {})

  suite(
    "layerSql (Postgres)",
    BudgetLedger.BudgetLedger.layerSql.pipe(
      Layer.provideMerge(PgTest.layer("ytempire_test_budget_ledger", { maxConnections: 10 }))
    ),
    { restart: BudgetLedger.BudgetLedger.layerSql }
  )
})
