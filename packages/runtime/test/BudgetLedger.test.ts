import { assert, describe, expect, layer as suiteLayer } from "@effect/vitest"
import { Budget, Ids, Money } from "@ytempire/domain"
import * as BudgetLedger from "@ytempire/runtime/BudgetLedger"
import { Arbitrary, Deferred, Effect, Exit, Fiber, Layer, Option, PubSub, Ref, Result, Schema, Stream } from "effect"
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

    it.effect.prop(
      "random reserve / commit / release: the invariant holds after every step and totals match a model",
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
  Schema.TaggedStruct("release", { slot: Slot })
])
const Operations = Arbitrary.array(Arbitrary.schema(Operation), { minLength: 10, maxLength: 40 })

type Expected = Result.Result<void, { readonly exceeded: number } | "not found">

class Model {
  readonly rows = range(3).map(() => ({ committed: Money.zero, reserved: Money.zero }))
  readonly highest = range(3).map(() => Money.zero)
  readonly reservations = new Map<
    number,
    {
      readonly scopes: ReadonlyArray<number>
      readonly amount: Money.Money
      state: "reserved" | "committed" | "released"
    }
  >()

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
    this.reservations.set(slot, { scopes, amount, state: "reserved" })
    return Result.succeed(undefined)
  }

  commit(slot: number, actual: Money.Money): Expected {
    const reservation = this.reservations.get(slot)
    if (reservation === undefined) return Result.fail("not found")
    if (reservation.state === "committed") return Result.succeed(undefined)
    const held = reservation.state === "reserved" ? reservation.amount : Money.zero
    const excess = Money.subtract(actual, held)
    if (excess > 0) {
      const refused = reservation.scopes.find((i) => !this.admits(i, excess))
      if (refused !== undefined) return Result.fail({ exceeded: refused })
    }
    this.move(reservation.scopes, actual, Money.negate(held))
    reservation.state = "committed"
    return Result.succeed(undefined)
  }

  release(slot: number): void {
    const reservation = this.reservations.get(slot)
    if (reservation === undefined || reservation.state !== "reserved") return
    this.move(reservation.scopes, Money.zero, Money.negate(reservation.amount))
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
