/**
 * @ytempire/runtime — channel actors, the durable video pipeline, the budget ledger, the providers of the
 * stages and the media tools they use (issue #3, in progress: the ledger, provider chain, artifact store, media
 * tools and script writer are here; the pipeline workflow, channel entity and storage layers are next).
 *
 * @since 0.1.0
 */
export * as ArtifactStore from "./ArtifactStore.ts"
export * as BudgetLedger from "./BudgetLedger.ts"
export * as BudgetLimitsStore from "./BudgetLimitsStore.ts"
export * as ChannelEntity from "./ChannelEntity.ts"
export * as ChannelRepository from "./ChannelRepository.ts"
export * as EmbeddedSql from "./EmbeddedSql.ts"
export * as Ffmpeg from "./media/Ffmpeg.ts"
export * as MediaError from "./media/MediaError.ts"
export * as Speech from "./media/Speech.ts"
export * as TitleCard from "./media/TitleCard.ts"
export * as MessageRetention from "./MessageRetention.ts"
export * as PipelineMetrics from "./PipelineMetrics.ts"
export * as ProviderChain from "./ProviderChain.ts"
export * as Providers from "./Providers.ts"
export * as EspeakNarrator from "./providers/EspeakNarrator.ts"
export * as FfmpegRenderer from "./providers/FfmpegRenderer.ts"
export * as LocalPublisher from "./providers/LocalPublisher.ts"
export * as LocalScript from "./providers/LocalScript.ts"
export * as LocalScriptWriter from "./providers/LocalScriptWriter.ts"
export * as Offline from "./providers/Offline.ts"
export * as TitleCardArtist from "./providers/TitleCardArtist.ts"
export * as Script from "./Script.ts"
export * as VideoPipeline from "./VideoPipeline.ts"
export * as VideoRepository from "./VideoRepository.ts"
export * as YtempireRuntime from "./YtempireRuntime.ts"
