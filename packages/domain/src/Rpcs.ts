/**
 * Every RPC group that the server serves and clients import, merged, behind the Authentication middleware.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import * as Auth from "./Auth.ts"
import * as Budget from "./Budget.ts"
import * as Channel from "./Channel.ts"
import * as Errors from "./Errors.ts"
import * as Gpu from "./Gpu.ts"
import * as Ids from "./Ids.ts"
import * as Operations from "./Operations.ts"
import * as Video from "./Video.ts"

/**
 * The budget operations: where each scope stands now (the tenant's, or one channel's), set limits, and the
 * cost report.
 *
 * @category rpc
 */
export class BudgetRpcs extends RpcGroup.make(
  Rpc.make("GetBudgetStatus", {
    payload: { channelId: Schema.optionalKey(Ids.ChannelId) },
    success: Schema.Array(Budget.BudgetStatus),
    error: Schema.Union([Errors.InvalidRequest, Channel.ChannelNotFound])
  }),
  Rpc.make("GetBudgetLimits", { success: Budget.BudgetLimits }),
  Rpc.make("SetBudgetLimits", {
    payload: Budget.BudgetLimitsUpdate,
    success: Budget.BudgetLimits,
    error: Schema.Union([Errors.InvalidRequest, Errors.Forbidden])
  }),
  Rpc.make("GetCostReport", {
    payload: { from: Budget.Day, to: Budget.Day, channelId: Schema.optionalKey(Ids.ChannelId) },
    success: Budget.CostReport,
    error: Schema.Union([Errors.InvalidRequest, Channel.ChannelNotFound])
  })
) {}

/**
 * The whole RPC API.
 *
 * @category rpc
 */
export const YtempireRpcs = Channel.ChannelRpcs
  .merge(Video.VideoRpcs, BudgetRpcs, Gpu.GpuRpcs, Operations.OperationsRpcs, Auth.ApiKeyRpcs)
  .middleware(Auth.Authentication)
