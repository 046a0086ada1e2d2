#!/usr/bin/env node
/**
 * The `ytempire` executable. Bad input ends it with one line naming what is wrong and exit code 2.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
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
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
