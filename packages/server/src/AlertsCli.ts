/**
 * `ytempire alerts export [--output FILE] [--runbook-url URL]`: the platform's alert rules (`AlertRules` of
 * `@ytempire/ops`) as a Prometheus rules file, printed or written to FILE; load it with `rule_files` in
 * prometheus.yml (examples/observability/ has one).
 *
 * @since 0.1.0
 */
import { AlertRules } from "@ytempire/ops"
import { Console, Effect, FileSystem, Option } from "effect"
import { Command, Flag } from "effect/cli"

const alertsExport = Command.make(
  "export",
  {
    output: Flag.File("output").pipe(
      Flag.withAlias("o"),
      Flag.withDescription("Write the rules file here instead of printing it"),
      Flag.optional
    ),
    runbookUrl: Flag.String("runbook-url").pipe(
      Flag.withDescription("The runbook each alert links to, with #<alert name> appended"),
      Flag.withDefault(AlertRules.defaultRunbookUrl)
    )
  },
  Effect.fn("AlertsCli.export")(function*({ output, runbookUrl }) {
    const text = AlertRules.render(AlertRules.groups, { runbookUrl })
    if (Option.isNone(output)) return yield* Console.log(text.trimEnd())
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFileString(output.value, text)
    const rules = AlertRules.groups.reduce((sum, group) => sum + group.rules.length, 0)
    yield* Console.error(
      `ytempire alerts export: ${rules} rules in ${AlertRules.groups.length} groups written to ${output.value}`
    )
  })
).pipe(Command.withDescription("Print the alert rules as a Prometheus rules file (or write it with --output)"))

/**
 * `ytempire alerts …`.
 *
 * @category commands
 */
export const alerts = Command.make("alerts").pipe(
  Command.withDescription("Prometheus alert rules over the server's /metrics"),
  Command.withSubcommands([alertsExport])
)
