/**
 * The budget limits changed at run time: over the configured ones, in memory, and in Postgres, where another
 * process sees a change within its refresh interval and a new one starts from what was set.
 */
import { describe, expect, it } from "@effect/vitest"
import { Budget, Ids, Money } from "@ytempire/domain"
import { BudgetLimitsStore } from "@ytempire/runtime"
import { Context, Effect, Layer, Option } from "effect"
import * as PgTest from "./utils/PgTest.ts"

describe("BudgetLimitsStore", () => {
  const configured = new Budget.BudgetLimits({ tenantDaily: Money.unsafeFromDecimal("25") })
  const acme = Ids.TenantId.make("acme")
  const globex = Ids.TenantId.make("globex")

  it.effect("layerMemory: changes over the configured limits", () =>
    Effect.gen(function*() {
      const store = yield* BudgetLimitsStore.BudgetLimitsStore
      expect(yield* store.get(acme)).toEqual(configured)
      yield* store.setTenantDaily(acme, Option.none())
      expect((yield* store.get(acme)).tenantDaily).toBeUndefined()
      expect((yield* store.get(globex)).tenantDaily).toBe(configured.tenantDaily)
      const defaults = yield* store.setGlobal({ monthly: Money.unsafeFromDecimal("10") })
      expect(defaults).toMatchObject({ tenantDaily: configured.tenantDaily, globalDaily: configured.globalDaily })
      expect(yield* store.get(acme)).toMatchObject({ globalMonthly: Money.unsafeFromDecimal("10") })
      expect((yield* store.get(acme)).tenantDaily).toBeUndefined()
    }).pipe(Effect.provide(BudgetLimitsStore.BudgetLimitsStore.layerMemory(configured))))

  it.live("layerSql: another process sees a change within its refresh interval, and a restart keeps it", () =>
    Effect.gen(function*() {
      const sql = yield* Layer.build(PgTest.layer("ytempire_test_limits_store", { maxConnections: 4 }))
      const process = () =>
        Layer.build(BudgetLimitsStore.BudgetLimitsStore.layerSql(configured, { refreshInterval: "100 millis" })).pipe(
          Effect.map((context) => Context.get(context, BudgetLimitsStore.BudgetLimitsStore)),
          Effect.provideContext(sql)
        )
      const [one, two] = [yield* process(), yield* process()]
      expect(yield* two.get(acme)).toEqual(configured)
      const limit = Money.unsafeFromDecimal("3.5")
      expect((yield* one.setTenantDaily(acme, Option.some(limit))).tenantDaily).toBe(limit)
      yield* one.setTenantDaily(globex, Option.none())
      yield* one.setGlobal({ daily: Money.unsafeFromDecimal("99") })
      // The writer sees its change at once; the other process within its interval.
      expect((yield* one.get(acme)).tenantDaily).toBe(limit)
      yield* Effect.sleep("150 millis")
      expect(yield* two.get(acme)).toMatchObject({ tenantDaily: limit, globalDaily: Money.unsafeFromDecimal("99") })
      expect((yield* two.get(globex)).tenantDaily).toBeUndefined()
      expect((yield* two.get(Ids.TenantId.make("initech"))).tenantDaily).toBe(configured.tenantDaily)
      // Many changes from both sides, read in order.
      for (let cents = 1; cents <= 20; cents++) {
        yield* (cents % 2 === 0 ? one : two).setTenantDaily(acme, Option.some(Money.fromCents(cents)))
      }
      yield* Effect.sleep("150 millis")
      expect((yield* one.get(acme)).tenantDaily).toBe(Money.fromCents(20))
      expect((yield* two.get(acme)).tenantDaily).toBe(Money.fromCents(20))
      // A new process starts from what was set.
      const three = yield* process()
      expect(yield* three.get(acme)).toMatchObject({
        tenantDaily: Money.fromCents(20),
        globalDaily: Money.unsafeFromDecimal("99"),
        globalMonthly: configured.globalMonthly
      })
    }))
})
