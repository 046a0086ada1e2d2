/**
 * The files that stages produce (scripts, narrations, thumbnails, videos), stored by content in the data
 * directory: `artifacts/<first two hex digits>/<sha256>.<extension>`. The same bytes are stored once, a file
 * appears at its final path only whole (written to a temporary name beside it, then renamed), and a stage
 * that runs again after a crash finds its artifact already there.
 *
 * @since 0.1.0
 */
import { Video } from "@ytempire/domain"
import { Clock, Context, Effect, FileSystem, Layer, Path, Schema, type Scope, Stream } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/**
 * Reading or writing an artifact failed.
 *
 * @category errors
 */
export class ArtifactError extends Schema.TaggedError<ArtifactError>()("ArtifactError", {
  message: Schema.String,
  cause: Schema.Defect()
}) {}

const extensions: Record<string, string> = {
  "application/json": "json",
  "audio/wav": "wav",
  "image/png": "png",
  "text/plain": "txt",
  "video/mp4": "mp4"
}

/**
 * The file extension for a media type (`bin` for unknown ones).
 *
 * @category utils
 */
export const extensionOf = (mediaType: string): string => extensions[mediaType] ?? "bin"

/**
 * The content-addressed artifact store of one data directory.
 *
 * @category services
 */
export class ArtifactStore extends Context.Service<ArtifactStore, {
  /** The data directory that artifact paths are relative to. */
  readonly root: string
  /** Stores bytes, returning their reference. */
  readonly putBytes: (bytes: Uint8Array, mediaType: string) => Effect.Effect<Video.ArtifactRef, ArtifactError>
  /** Moves a finished file into the store (the file at `source` is gone afterwards). */
  readonly putFile: (source: string, mediaType: string) => Effect.Effect<Video.ArtifactRef, ArtifactError>
  /** The absolute path of an artifact. */
  readonly pathOf: (ref: Video.ArtifactRef) => string
  /** Whether an artifact is present with its recorded size. */
  readonly has: (ref: Video.ArtifactRef) => Effect.Effect<boolean>
  /**
   * A private scratch directory for a stage's work files, removed when the scope closes. It is named, not
   * created: whoever writes into it creates it first.
   */
  readonly scratch: Effect.Effect<string, ArtifactError, Scope.Scope>
}>()("@ytempire/runtime/ArtifactStore") {
  /**
   * The store rooted at `dataDir` (created if missing).
   */
  static readonly layer = (
    dataDir: string
  ): Layer.Layer<ArtifactStore, ArtifactError, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(ArtifactStore)(make(dataDir))
}

const fail = (message: string) => (cause: unknown) => new ArtifactError({ message, cause })

/**
 * Files below this size are read, written and moved with synchronous calls: on the virtual machines we run on,
 * a thread-pool round trip per call costs more CPU than the short blocking call does (measured: a 20-byte
 * `fs.promises.writeFile` 64 µs of CPU, `writeFileSync` 9 µs). Larger files stream through the hash.
 */
const smallFileBytes = 1024 * 1024

/** Work files older than this are left over from a crash: no stage runs for so long. */
const staleAfterMillis = 24 * 60 * 60 * 1000

/**
 * Removes what crashed stages left in `tmp` (scratch directories, half-written artifacts). Only old entries: other
 * processes sharing the data directory may be writing the fresh ones.
 */
const removeStale = (tmp: string) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const stale = readdirSync(tmp).map((name) => join(tmp, name)).filter((entry) =>
      now - statSync(entry).mtimeMs > staleAfterMillis
    )
    for (const entry of stale) rmSync(entry, { recursive: true, force: true })
    if (stale.length > 0) yield* Effect.logInfo(`ArtifactStore: removed ${stale.length} stale work files in ${tmp}`)
  }).pipe(
    Effect.catchDefect((cause) => Effect.logWarning(`ArtifactStore: could not clean ${tmp}`, cause))
  )

const make = Effect.fnUntraced(function*(dataDir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = path.resolve(dataDir)
  const artifacts = path.join(root, "artifacts")
  const tmp = path.join(root, "tmp")
  yield* fs.makeDirectory(artifacts, { recursive: true }).pipe(Effect.mapError(fail(`cannot create ${artifacts}`)))
  yield* fs.makeDirectory(tmp, { recursive: true }).pipe(Effect.mapError(fail(`cannot create ${tmp}`)))

  yield* removeStale(tmp)

  // Names under tmp/ that no other store on the same directory (another process) can pick: a random token of
  // this store, then a counter. Cheaper than asking the file system for a fresh name each time.
  const token = randomBytes(6).toString("hex")
  let counter = 0
  const freshName = (prefix: string) => path.join(tmp, `${prefix}-${token}-${(counter++).toString(36)}`)

  // The fan-out directories known to exist: creating a directory costs as much as writing a small file.
  const knownDirectories = new Set<string>()

  const relativePath = (sha256: string, mediaType: string) =>
    path.join("artifacts", sha256.slice(0, 2), `${sha256}.${extensionOf(mediaType)}`)

  /**
   * Moves `source` to its content address (synchronously: a rename is one short call). rename within one file
   * system is atomic: the artifact appears whole or not at all, and renaming onto the same content already there
   * changes nothing a reader could see.
   */
  const placeSync = (source: string, sha256: string, bytes: number, mediaType: string) => {
    const relative = relativePath(sha256, mediaType)
    const target = path.join(root, relative)
    const directory = path.dirname(target)
    if (!knownDirectories.has(directory)) {
      mkdirSync(directory, { recursive: true })
      knownDirectories.add(directory)
    }
    try {
      renameSync(source, target)
    } catch (error) {
      // The directory may have been removed behind our back: create it again, once.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
      mkdirSync(directory, { recursive: true })
      renameSync(source, target)
    }
    return new Video.ArtifactRef({ path: relative, sha256, bytes, mediaType })
  }

  const sha256OfLargeFile = (file: string) =>
    Effect.suspend(() => {
      const hash = createHash("sha256")
      return fs.stream(file).pipe(
        Stream.runForEach((chunk) => Effect.sync(() => hash.update(chunk))),
        Effect.map(() => hash.digest("hex"))
      )
    })

  const putFile = Effect.fn("ArtifactStore.putFile")(
    function*(source: string, mediaType: string) {
      const size = Number((yield* fs.stat(source)).size)
      const sha256 = size < smallFileBytes
        ? yield* Effect.try(() => createHash("sha256").update(readFileSync(source)).digest("hex"))
        : yield* sha256OfLargeFile(source)
      return yield* Effect.try(() => placeSync(source, sha256, size, mediaType))
    },
    (effect, source) => Effect.mapError(effect, fail(`cannot store ${source}`))
  )

  const putBytes = Effect.fn("ArtifactStore.putBytes")(
    function*(bytes: Uint8Array, mediaType: string) {
      const sha256 = createHash("sha256").update(bytes).digest("hex")
      const staging = freshName("put")
      const write = bytes.byteLength < smallFileBytes
        ? Effect.try(() => writeFileSync(staging, bytes))
        : fs.writeFile(staging, bytes)
      yield* write
      return yield* Effect.try(() => placeSync(staging, sha256, bytes.byteLength, mediaType)).pipe(
        Effect.onError(() => Effect.sync(() => rmSync(staging, { force: true })))
      )
    },
    (effect) => Effect.mapError(effect, fail("cannot store an artifact"))
  )

  const pathOf = (ref: Video.ArtifactRef) => path.join(root, ref.path)

  const has = (ref: Video.ArtifactRef) =>
    fs.stat(pathOf(ref)).pipe(
      Effect.map((info) => Number(info.size) === ref.bytes),
      Effect.orElseSucceed(() => false)
    )

  // Named, not created: a provider that needs files creates it (most hand back one file or bytes and need none).
  const scratch = Effect.acquireRelease(
    Effect.sync(() => freshName("stage")),
    // Usually absent (one cheap call). What a crash left behind goes at a later start (see removeStale).
    (directory) =>
      Effect.sync(() => rmSync(directory, { recursive: true, force: true, maxRetries: 2 })).pipe(Effect.ignore)
  )

  return ArtifactStore.of({ root, putBytes, putFile, pathOf, has, scratch })
})
