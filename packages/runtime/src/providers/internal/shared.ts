/**
 * What the offline providers share: reading their inputs, measuring their work, and translating the media
 * layer's and the file system's errors into `Provider.ProviderUnavailable` with a sensible `retryable`:
 *
 * - the caller's input is wrong (a stage's file is absent or missing on disk, a script that does not decode, a
 *   request the tool refuses): not retryable, the same input fails the same way;
 * - a tool failed (espeak-ng, sharp, ffmpeg or ffprobe crashed, a write failed): retryable.
 *
 * @internal
 */
import { Pricing, Provider, type Stage } from "@ytempire/domain"
import { Clock, type Duration, Effect, FileSystem, Path, type PlatformError, Schema } from "effect"
import { writeAtomically, writeFileAtomically as writeBytesAtomically } from "../../internal/atomicFile.ts"
import type * as Ffmpeg from "../../media/Ffmpeg.ts"
import type { InvalidMediaInput, MediaError } from "../../media/MediaError.ts"
import type * as Speech from "../../media/Speech.ts"
import type { StageInput } from "../../Providers.ts"
import * as Script from "../../Script.ts"

/** Who is failing: a provider at a stage. */
export interface Who {
  readonly provider: string
  readonly stage: Stage.Stage
}

/** The stage's failure. */
export const unavailable = (who: Who, reason: string, retryable: boolean): Provider.ProviderUnavailable =>
  new Provider.ProviderUnavailable({ provider: who.provider, stage: who.stage, reason, retryable })

/** The media layer's errors a provider can meet. */
export type AnyMediaError = MediaError | InvalidMediaInput | Ffmpeg.MissingInput | Speech.UnknownVoice

/**
 * A media error as the stage's failure, its reason prefixed by `what` was being done: a tool that failed may
 * succeed on another attempt; input it refused or could not find will not.
 */
export const fromMedia = (who: Who, what: string) => (error: AnyMediaError): Provider.ProviderUnavailable =>
  unavailable(who, `${what}: ${error.message}`, error._tag === "MediaError")

/**
 * A file system error as the stage's failure: a file that is not there, or a path that is refused, is not
 * retryable; anything else (a busy or full disk, an interrupted read) is.
 */
export const fromPlatform =
  (who: Who, what: string) => (error: PlatformError.PlatformError): Provider.ProviderUnavailable => {
    const reason = error.reason
    const retryable = reason._tag !== "BadArgument" && reason._tag !== "NotFound" && reason._tag !== "PermissionDenied"
    return unavailable(who, `${what}: ${error.message}`, retryable)
  }

/** The artificial latency of a provider, slept before its work (nothing when absent). */
export const delay = (latency: Duration.Input | undefined): Effect.Effect<void> =>
  latency === undefined ? Effect.void : Effect.sleep(latency)

/** Runs `effect` and reports the whole milliseconds (rounded up) it took by the `Clock`. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<[A, number], E, R> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeNanos
    const value = yield* effect
    const finished = yield* Clock.currentTimeNanos
    return [value, Math.max(0, Math.ceil(Number(finished - started) / 1_000_000))] as [A, number]
  })

/** Local compute time as usage. */
export const cpuUsage = (millis: number): Pricing.Usage => [Pricing.use("compute.cpu-hour", millis)]

/**
 * The file of an earlier stage: its path, failing (not retryable) when the stage's file is not among the inputs
 * or not on disk.
 */
export const inputFile = Effect.fnUntraced(function*(
  who: Who,
  fs: FileSystem.FileSystem,
  input: StageInput,
  stage: Stage.Stage
) {
  const file = input.inputs[stage]
  if (file === undefined) {
    return yield* unavailable(who, `no ${stage} file among the inputs: the ${stage} stage must run first`, false)
  }
  const exists = yield* fs.exists(file).pipe(Effect.mapError(fromPlatform(who, `could not look for ${file}`)))
  if (!exists) return yield* unavailable(who, `the ${stage} file ${file} does not exist`, false)
  return file
})

const ScriptJson = Schema.fromJsonString(Script.Script)

/** The script of the `script` stage, decoded; a file that is not a valid script fails, not retryable. */
export const readScript = Effect.fnUntraced(function*(who: Who, fs: FileSystem.FileSystem, input: StageInput) {
  const file = yield* inputFile(who, fs, input, "script")
  const text = yield* fs.readFileString(file).pipe(Effect.mapError(fromPlatform(who, `could not read ${file}`)))
  return yield* Schema.decodeUnknownEffect(ScriptJson)(text).pipe(
    Effect.mapError((error) => unavailable(who, `the script ${file} is not a valid script: ${error.message}`, false))
  )
})

/** The script as the JSON the `script` stage writes. */
export const encodeScript = (script: Script.Script): Effect.Effect<string, Schema.SchemaError> =>
  Schema.encodeEffect(ScriptJson)(script)

/** A path in the stage's scratch directory, which is created when it does not exist yet. */
export const scratchFile = Effect.fnUntraced(function*(
  who: Who,
  fs: FileSystem.FileSystem,
  path: Path.Path,
  input: StageInput,
  name: string
) {
  yield* fs.makeDirectory(input.scratch, { recursive: true }).pipe(
    Effect.mapError(fromPlatform(who, `could not create the scratch directory ${input.scratch}`))
  )
  return path.join(input.scratch, name)
})

/** Writes `bytes` to `target` atomically (a temporary sibling renamed into place); a failure is retryable. */
export const writeFileAtomically = (
  who: Who,
  target: string,
  bytes: Uint8Array,
  fs: FileSystem.FileSystem,
  path: Path.Path
): Effect.Effect<void, Provider.ProviderUnavailable> =>
  writeBytesAtomically(target, bytes).pipe(
    Effect.provideService(FileSystem.FileSystem, fs),
    Effect.provideService(Path.Path, path),
    Effect.mapError((error) => unavailable(who, error.message, true))
  )

/** Copies `source` to `target` atomically: `target` is either as it was or a complete copy. */
export const copyFileAtomically = (
  who: Who,
  source: string,
  target: string,
  fs: FileSystem.FileSystem,
  path: Path.Path
): Effect.Effect<void, Provider.ProviderUnavailable> =>
  writeAtomically(
    target,
    (temporary) => fs.copyFile(source, temporary).pipe(Effect.mapError(fromPlatform(who, `could not copy ${source}`)))
  ).pipe(
    Effect.provideService(FileSystem.FileSystem, fs),
    Effect.provideService(Path.Path, path),
    Effect.mapError((error) => error._tag === "MediaError" ? unavailable(who, error.message, true) : error)
  )
