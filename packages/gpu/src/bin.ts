#!/usr/bin/env node
/**
 * The `ytempire-gpu` executable. Bad input ends it with exit code 2: a malformed command line after the usage
 * and what was wrong, a bad workload after one line naming the field and the job.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { CliError, Command } from "effect/cli"
import * as Cli from "./Cli.ts"

Cli.ytempireGpu.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.catchTag("WorkloadInvalid", (error) =>
    Console.error(`ytempire-gpu: ${error.message}`).pipe(
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
