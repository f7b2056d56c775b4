// `pnpm format` rewrites every TypeScript and JavaScript file in dprint's format (Effect's settings);
// `pnpm format --check` changes nothing and lists the files that are not formatted, failing if any are.
// Only the formatting rule runs, without type information, so it takes seconds rather than a full lint.
import effect from "@effect/eslint-plugin"
import { ESLint } from "eslint"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import tseslint from "typescript-eslint"
import { dprintConfig, ignores } from "../eslint.config.mjs"

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { check: { type: "boolean", default: false } }
})

const eslint = new ESLint({
  cwd: resolve(import.meta.dirname, ".."),
  overrideConfigFile: true,
  overrideConfig: [
    { ignores },
    {
      files: ["**/*.ts", "**/*.mts", "**/*.mjs", "**/*.js"],
      languageOptions: { parser: tseslint.parser },
      // the other rules are known, though off, so that their disable comments are not reported
      plugins: { "@effect": effect, "@typescript-eslint": tseslint.plugin },
      linterOptions: { reportUnusedDisableDirectives: "off" },
      rules: { "@effect/dprint": ["error", { config: dprintConfig }] }
    }
  ],
  fix: !values.check
})

const results = await eslint.lintFiles(positionals.length > 0 ? positionals : ["."])
if (values.check) {
  const unformatted = results.filter((result) => result.messages.length > 0)
  for (const result of unformatted) {
    const first = result.messages[0]
    console.error(`${result.filePath}:${first.line}:${first.column} not formatted (${result.messages.length} places)`)
  }
  if (unformatted.length > 0) {
    console.error(`${unformatted.length} of ${results.length} files are not formatted: run \`pnpm format\``)
    process.exitCode = 1
  } else {
    console.log(`${results.length} files formatted`)
  }
} else {
  await ESLint.outputFixes(results)
  const left = results.filter((result) => result.messages.length > 0)
  for (const result of left) {
    for (const message of result.messages) {
      console.error(`${result.filePath}:${message.line}:${message.column} ${message.message}`)
    }
  }
  const changed = results.filter((result) => result.output !== undefined).length
  console.log(`${changed} of ${results.length} files reformatted`)
  if (left.length > 0) process.exitCode = 1
}
