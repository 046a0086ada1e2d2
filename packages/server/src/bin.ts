#!/usr/bin/env node
/**
 * The `ytempire` executable. Bad input ends it with exit code 2: a malformed command line after the usage and
 * what was wrong, a bad value or configuration after one line naming it. A server stopped by SIGTERM or SIGINT
 * exits 0 once it has shut down.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Logger, Runtime } from "effect"
import { CliError, Command } from "effect/cli"
import * as Cli from "./Cli.ts"
import { version } from "./Version.ts"

const badInput = (message: string) =>
  Console.error(`ytempire: ${message}`).pipe(
    Effect.andThen(Effect.sync(() => {
      process.exitCode = 2
    }))
  )

Cli.ytempire.pipe(
  Command.run({ version }),
  Effect.catchTags({
    InvalidRequest: (error) => badInput(error.message),
    InvalidConfiguration: (error) => badInput(`bad configuration: ${error.message}`)
  }),
  // A malformed command line has been explained already (the usage and what was wrong): exit 2, like getopt.
  Effect.catchIf(CliError.isCliError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })),
  // stdout is for results (a key's secret, a JSON line); logs and progress go to stderr.
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  (program) =>
    NodeRuntime.runMain(program, {
      teardown: (exit, onExit) =>
        Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) && Cli.isGracefulShutdown()
          ? onExit(0)
          : Runtime.defaultTeardown(exit, onExit)
    })
)
