/**
 * Every RPC group that the server serves and clients import, merged, behind the Authentication middleware.
 *
 * @since 0.1.0
 */
import * as Auth from "./Auth.ts"
import * as Budget from "./Budget.ts"
import * as Channel from "./Channel.ts"
import * as Gpu from "./Gpu.ts"
import * as Operations from "./Operations.ts"
import * as Video from "./Video.ts"

/**
 * The whole RPC API.
 *
 * @category rpc
 */
export const YtempireRpcs = Channel.ChannelRpcs
  .merge(Video.VideoRpcs, Budget.BudgetRpcs, Gpu.GpuRpcs, Operations.OperationsRpcs)
  .middleware(Auth.Authentication)
