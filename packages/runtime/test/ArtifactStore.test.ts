import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ArtifactStore } from "@ytempire/runtime"
import { Effect, FileSystem, Path } from "effect"
import { createHash } from "node:crypto"

const withStore = <A, E, R>(
  use: (store: ArtifactStore.ArtifactStore["Service"], dataDir: string) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-artifacts-" })
    const store = yield* Effect.provide(
      Effect.gen(function*() {
        return yield* ArtifactStore.ArtifactStore
      }),
      ArtifactStore.ArtifactStore.layer(dataDir)
    )
    return yield* use(store, dataDir)
  })

const layer = NodeServices.layer

describe("ArtifactStore", () => {
  it.layer(layer)((test) => {
    test.effect("stores bytes at their content address, once", () =>
      withStore((store, dataDir) =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const bytes = new TextEncoder().encode(JSON.stringify({ title: "Five phones under $300" }))
          const sha256 = createHash("sha256").update(bytes).digest("hex")
          const ref = yield* store.putBytes(bytes, "application/json")
          expect(ref).toMatchObject({
            path: `artifacts/${sha256.slice(0, 2)}/${sha256}.json`,
            sha256,
            bytes: bytes.byteLength,
            mediaType: "application/json"
          })
          expect(store.pathOf(ref)).toBe(`${yield* fs.realPath(dataDir)}/${ref.path}`)
          expect(new TextDecoder().decode(yield* fs.readFile(store.pathOf(ref)))).toContain("phones")
          const again = yield* store.putBytes(bytes, "application/json")
          expect(again).toEqual(ref)
          expect(yield* store.has(ref)).toBe(true)
          // Nothing is left in the staging area.
          expect(yield* fs.readDirectory(`${dataDir}/tmp`)).toEqual([])
        })
      ).pipe(Effect.scoped))

    test.effect("moves a finished file into the store and reports a missing or truncated artifact", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const path = yield* Path.Path
          const stored = yield* Effect.scoped(Effect.gen(function*() {
            const scratch = yield* store.scratch
            yield* fs.makeDirectory(scratch)
            const file = path.join(scratch, "render.mp4")
            yield* fs.writeFile(file, new Uint8Array(4096).fill(7))
            const ref = yield* store.putFile(file, "video/mp4")
            expect(yield* fs.exists(file)).toBe(false)
            return ref
          }))
          expect(stored.path).toMatch(/^artifacts\/[0-9a-f]{2}\/[0-9a-f]{64}\.mp4$/)
          expect(stored.bytes).toBe(4096)
          expect(yield* store.has(stored)).toBe(true)
          yield* fs.truncate(store.pathOf(stored), 100)
          expect(yield* store.has(stored)).toBe(false)
          yield* fs.remove(store.pathOf(stored))
          expect(yield* store.has(stored)).toBe(false)
        })
      ).pipe(Effect.scoped))

    test.effect("removes a stage's scratch directory, with what a provider left in it, when its scope closes", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const path = yield* Path.Path
          const removed = yield* Effect.scoped(Effect.gen(function*() {
            const scratch = yield* store.scratch
            // Named under the store's tmp/, distinct each time, and left for the provider to create.
            expect(path.dirname(scratch)).toBe(path.join(store.root, "tmp"))
            expect(yield* store.scratch.pipe(Effect.scoped)).not.toBe(scratch)
            yield* fs.makeDirectory(path.join(scratch, "scenes"), { recursive: true })
            yield* fs.writeFileString(path.join(scratch, "scenes", "scene-01.png"), "left behind")
            return scratch
          }))
          expect(yield* fs.exists(removed)).toBe(false)
          // A stage that never created it closes without an error.
          yield* Effect.scoped(store.scratch)
        })
      ).pipe(Effect.scoped))

    test.effect("fails with a typed error naming the file it could not store", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(store.putFile("/nonexistent/render.mp4", "video/mp4"))
          expect(error._tag).toBe("ArtifactError")
          expect(error.message).toContain("/nonexistent/render.mp4")
        })
      ).pipe(Effect.scoped))
  })
})
