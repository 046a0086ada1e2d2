/**
 * The ytempire domain: the vocabulary shared by the library, the server and every client.
 *
 * @since 0.1.0
 */
export * as Auth from "./Auth.ts"
export * as Budget from "./Budget.ts"
export * as Channel from "./Channel.ts"
export * as ChannelEntity from "./ChannelEntity.ts"
export * as Errors from "./Errors.ts"
export * as Gpu from "./Gpu.ts"
export * as GpuJobSpec from "./GpuJobSpec.ts"
export * as Ids from "./Ids.ts"
export * as Money from "./Money.ts"
export * as Operations from "./Operations.ts"
export * as Pagination from "./Pagination.ts"
export * as Pipeline from "./Pipeline.ts"
export * as Pricing from "./Pricing.ts"
export * as Priority from "./Priority.ts"
export * as Provider from "./Provider.ts"
export * as Quota from "./Quota.ts"
export * as Rpcs from "./Rpcs.ts"
export * as Stage from "./Stage.ts"
export * as Text from "./Text.ts"
export * as Video from "./Video.ts"
