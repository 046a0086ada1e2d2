/**
 * The benchmarks' entry point: `node bench/run.ts <name> [--flags]` (or `npm run bench -- <name> [--flags]`).
 * Each benchmark prints one JSON line of figures on stdout, measured side by side with its baseline in the
 * same run; progress and logs go to stderr. `--help` lists the benchmarks; `<name> --help` lists its flags.
 * An unknown name ends with an error and the list of known ones.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Logger } from "effect"
import { Command } from "effect/cli"
import * as Channels from "./channels.ts"
import * as GpuScheduler from "./gpuScheduler.ts"
import * as Pipeline from "./pipeline.ts"
import * as Server from "./server.ts"
import * as Tracing from "./tracing.ts"

const bench = Command.make("bench").pipe(
  Command.withDescription("ytempire benchmarks: each prints one JSON line of figures with its baseline"),
  Command.withSubcommands([
    Pipeline.command,
    Channels.command,
    GpuScheduler.command,
    Server.command,
    Tracing.command
  ])
)

bench.pipe(
  Command.run({ version: "0.1.0" }),
  // stdout carries the one JSON line; whatever the runtime logs goes to stderr.
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
