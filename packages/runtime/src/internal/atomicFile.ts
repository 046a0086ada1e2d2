/**
 * Writing a file so that a reader never sees half of it: the content goes to a hidden sibling (same directory,
 * so the rename is atomic on one file system), which is renamed onto the target only when it is complete and
 * removed on any failure or interruption.
 *
 * @internal
 */
import { Effect, Exit, FileSystem, Path, Random } from "effect"
import { MediaError } from "../media/MediaError.ts"

/**
 * A fresh hidden path beside `target`, keeping its extension (`/out/.video.mp4.k3j9x1.partial.mp4`), so tools
 * that infer a format from the name still see the right one.
 */
export const siblingTempPath = Effect.fnUntraced(function*(target: string) {
  const path = yield* Path.Path
  const suffix = (yield* Random.nextIntBetween(0, 2 ** 40)).toString(36)
  const base = path.basename(target)
  return path.join(path.dirname(target), `.${base}.${suffix}.partial${path.extname(target)}`)
})

/**
 * Runs `write` against a temporary sibling of `target` and renames it onto `target` when `write` succeeds. On a
 * failure or an interruption, the temporary file is removed and `target` is left as it was.
 */
export const writeAtomically = <A, E, R>(
  target: string,
  write: (temporary: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MediaError, R | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const temporary = yield* siblingTempPath(target)
    return yield* write(temporary).pipe(
      Effect.tap(() =>
        fs.rename(temporary, target).pipe(
          Effect.mapError((cause) =>
            new MediaError({ tool: "filesystem", message: `could not move the finished file to ${target}`, cause })
          )
        )
      ),
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(fs.remove(temporary, { force: true })))
    )
  })

/**
 * Writes `bytes` to `target` atomically.
 */
export const writeFileAtomically = (
  target: string,
  bytes: Uint8Array
): Effect.Effect<void, MediaError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* writeAtomically(target, (temporary) =>
      fs.writeFile(temporary, bytes).pipe(
        Effect.mapError((cause) =>
          new MediaError({ tool: "filesystem", message: `could not write ${target}: ${cause.message}`, cause })
        )
      ))
  })
