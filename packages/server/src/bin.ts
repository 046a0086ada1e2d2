#!/usr/bin/env node
/**
 * The `ytempire` executable. Bad input ends it with exit code 2: a malformed command line after the usage and
 * what was wrong, a bad value after one line naming it.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { CliError, Command } from "effect/cli"
import * as Cli from "./Cli.ts"
import { version } from "./Version.ts"

Cli.ytempire.pipe(
  Command.run({ version }),
  Effect.catchTag("InvalidRequest", (error) =>
    Console.error(`ytempire: ${error.message}`).pipe(
      Effect.andThen(Effect.sync(() => {
        process.exitCode = 2
      }))
    )),
  // A malformed command line has been explained already (the usage and what was wrong): exit 2, like getopt.
  Effect.catchIf(CliError.isCliError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
