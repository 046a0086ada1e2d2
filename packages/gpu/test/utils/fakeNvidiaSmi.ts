import { Effect, FileSystem, Path } from "effect"

/**
 * A stand-in for nvidia-smi: a shell script that records its arguments and prints what the test gives it
 * (stdout, stderr, exit code, optionally after a delay). The answer can be changed between queries.
 */
export interface FakeNvidiaSmi {
  readonly command: string
  /** Sets what the next queries print: a fixture's contents or text. */
  readonly answer: (answer: {
    readonly stdout?: string
    readonly stderr?: string
    readonly exitCode?: number
    readonly delaySeconds?: number
  }) => Effect.Effect<void>
  /** The arguments of the last query, one per element. */
  readonly lastArgs: Effect.Effect<Array<string>>
}

export const fixture = Effect.fnUntraced(function*(name: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  return yield* fs.readFileString(path.join(import.meta.dirname, "..", "fixtures", name)).pipe(Effect.orDie)
})

export const fakeNvidiaSmi = Effect.fnUntraced(function*(initial: Parameters<FakeNvidiaSmi["answer"]>[0]) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-nvidia-smi-" }).pipe(Effect.orDie)
  const file = (name: string) => path.join(dir, name)
  const command = file("nvidia-smi")
  yield* fs.writeFileString(
    command,
    [
      "#!/bin/sh",
      `printf '%s\\n' "$@" > '${file("args")}'`,
      `sleep "$(cat '${file("delay")}')"`,
      `cat '${file("stdout")}'`,
      `cat '${file("stderr")}' >&2`,
      `exit "$(cat '${file("code")}')"`,
      ""
    ].join("\n")
  ).pipe(Effect.orDie)
  yield* fs.chmod(command, 0o755).pipe(Effect.orDie)

  const answer: FakeNvidiaSmi["answer"] = (next) =>
    Effect.all([
      fs.writeFileString(file("stdout"), next.stdout ?? ""),
      fs.writeFileString(file("stderr"), next.stderr ?? ""),
      fs.writeFileString(file("code"), String(next.exitCode ?? 0)),
      fs.writeFileString(file("delay"), String(next.delaySeconds ?? 0))
    ]).pipe(Effect.asVoid, Effect.orDie)
  yield* answer(initial)

  const lastArgs = fs.readFileString(file("args")).pipe(
    Effect.map((text) => text.split("\n").filter((line) => line !== "")),
    Effect.orDie
  )
  return { command, answer, lastArgs } satisfies FakeNvidiaSmi
})
