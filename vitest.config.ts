import { defineConfig } from "vitest/config"

// CI asks for a JSON report beside the console output, to print its closing "N passed, N failed" line.
const jsonReport = process.env["VITEST_JSON_REPORT"]

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: jsonReport ? ["default", ["json", { outputFile: jsonReport }]] : ["default"]
  }
})
