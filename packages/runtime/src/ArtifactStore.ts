/**
 * The files that stages produce (scripts, narrations, thumbnails, videos), stored by content in the data
 * directory: `artifacts/<first two hex digits>/<sha256>.<extension>`. The same bytes are stored once, a file
 * appears at its final path only whole (written to a temporary name beside it, then renamed), and a stage
 * that runs again after a crash finds its artifact already there.
 *
 * @since 0.1.0
 */
import { Video } from "@ytempire/domain"
import { Context, Effect, FileSystem, Layer, Path, Schema, type Scope, Stream } from "effect"
import { createHash } from "node:crypto"

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
  /** A private scratch directory for a stage's work files, removed when the scope closes. */
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

const make = Effect.fnUntraced(function*(dataDir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = path.resolve(dataDir)
  const artifacts = path.join(root, "artifacts")
  const tmp = path.join(root, "tmp")
  yield* fs.makeDirectory(artifacts, { recursive: true }).pipe(Effect.mapError(fail(`cannot create ${artifacts}`)))
  yield* fs.makeDirectory(tmp, { recursive: true }).pipe(Effect.mapError(fail(`cannot create ${tmp}`)))

  const relativePath = (sha256: string, mediaType: string) =>
    path.join("artifacts", sha256.slice(0, 2), `${sha256}.${extensionOf(mediaType)}`)

  const sha256OfFile = (file: string) =>
    Effect.suspend(() => {
      const hash = createHash("sha256")
      return fs.stream(file).pipe(
        Stream.runForEach((chunk) => Effect.sync(() => hash.update(chunk))),
        Effect.map(() => hash.digest("hex"))
      )
    })

  /** Moves `source` to its content address, unless the same content is there already. */
  const place = Effect.fnUntraced(function*(source: string, sha256: string, bytes: number, mediaType: string) {
    const relative = relativePath(sha256, mediaType)
    const target = path.join(root, relative)
    yield* fs.makeDirectory(path.dirname(target), { recursive: true })
    if (yield* fs.exists(target)) {
      yield* fs.remove(source)
    } else {
      // rename within one file system is atomic: the artifact appears whole or not at all.
      yield* fs.rename(source, target)
    }
    return new Video.ArtifactRef({ path: relative, sha256, bytes, mediaType })
  })

  const putFile = Effect.fn("ArtifactStore.putFile")(
    function*(source: string, mediaType: string) {
      const sha256 = yield* sha256OfFile(source)
      const info = yield* fs.stat(source)
      return yield* place(source, sha256, Number(info.size), mediaType)
    },
    (effect, source) => Effect.mapError(effect, fail(`cannot store ${source}`))
  )

  const putBytes = Effect.fn("ArtifactStore.putBytes")(
    function*(bytes: Uint8Array, mediaType: string) {
      const sha256 = createHash("sha256").update(bytes).digest("hex")
      return yield* Effect.scoped(Effect.gen(function*() {
        const staging = path.join(yield* fs.makeTempDirectoryScoped({ directory: tmp, prefix: "put-" }), "artifact")
        yield* fs.writeFile(staging, bytes)
        return yield* place(staging, sha256, bytes.byteLength, mediaType)
      }))
    },
    (effect) => Effect.mapError(effect, fail("cannot store an artifact"))
  )

  const pathOf = (ref: Video.ArtifactRef) => path.join(root, ref.path)

  const has = (ref: Video.ArtifactRef) =>
    fs.stat(pathOf(ref)).pipe(
      Effect.map((info) => Number(info.size) === ref.bytes),
      Effect.orElseSucceed(() => false)
    )

  const scratch = fs.makeTempDirectoryScoped({ directory: tmp, prefix: "stage-" }).pipe(
    Effect.mapError(fail("cannot create a scratch directory"))
  )

  return ArtifactStore.of({ root, putBytes, putFile, pathOf, has, scratch })
})
