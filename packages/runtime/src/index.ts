/**
 * @ytempire/runtime — Channel actors, the durable video pipeline, the budget ledger and providers (issue #3).
 *
 * The package exists so that the workspace, its project references and the direction of dependencies
 * (domain ← gpu ← runtime ← ops ← server) are in place; its modules arrive with the issue above.
 *
 * @since 0.1.0
 */
export * as ArtifactStore from "./ArtifactStore.ts"
export * as BudgetLedger from "./BudgetLedger.ts"
export * as Ffmpeg from "./media/Ffmpeg.ts"
export * as MediaError from "./media/MediaError.ts"
export * as Speech from "./media/Speech.ts"
export * as TitleCard from "./media/TitleCard.ts"
export * as ProviderChain from "./ProviderChain.ts"
export * as LocalScriptWriter from "./providers/LocalScriptWriter.ts"
export * as Script from "./Script.ts"
