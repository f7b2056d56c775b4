// `pnpm examples:check [dir...]` type-checks every JSDoc `@example` in the packages' sources (or in the
// directories given): each ```ts block becomes a module in a temporary directory inside the workspace (so that
// `@capstan/*` and `effect` resolve as they do for a user), and one `tsc` run checks them all under the
// workspace's strict settings. Each failure is printed at the source file and line of the example; any failure
// exits 1. A rename that breaks an example therefore fails CI. It also fails when a name exported by a public
// module (not under `internal/`) has no example on any of its declarations (a brand's `TypeId` needs none).
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { parseArgs } from "node:util"

const root = resolve(import.meta.dirname, "..")
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { keep: { type: "boolean", default: false } }
})
const dirs = positionals.length > 0
  ? positionals.map((dir) => resolve(dir))
  : readdirSync(join(root, "packages")).map((name) => join(root, "packages", name, "src"))

const sourcesIn = (dir) =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return sourcesIn(path)
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : []
  })

/** Every fenced TypeScript block inside an `@example` tag, with the line its code starts on (1-based). */
const examplesIn = (text) => {
  const examples = []
  const lines = text.split("\n")
  let inExample = false
  let code
  let start = 0
  for (const [index, raw] of lines.entries()) {
    if (/^\s*\*\//.test(raw)) {
      inExample = false
      code = undefined
      continue
    }
    if (/^\s*\*\s*@example\b/.test(raw)) {
      inExample = true
      continue
    }
    if (code === undefined && /^\s*\*\s*@\w/.test(raw)) inExample = false
    if (!inExample) continue
    const line = raw.replace(/^\s*\* ?/, "")
    if (code === undefined && /^```(ts|typescript)\s*$/.test(line)) {
      code = []
      start = index + 2
    } else if (code !== undefined && /^```\s*$/.test(line)) {
      examples.push({ code: code.join("\n"), line: start })
      code = undefined
    } else if (code !== undefined) {
      code.push(line)
    }
  }
  return examples
}

/** The names a public module declares and exports with no `@example` in the JSDoc of any of their declarations. */
const undocumentedIn = (text) => {
  const lines = text.split("\n")
  const documented = new Map()
  for (const [index, line] of lines.entries()) {
    const name = /^export (?:declare )?(?:abstract )?(?:const|let|function\*?|interface|type|class|enum) (\w+)/
      .exec(line)?.[1]
    if (name === undefined || name === "TypeId") continue
    let end = index - 1
    while (end >= 0 && lines[end].trim() === "") end--
    let start = end
    if (lines[end]?.trim().endsWith("*/")) { while (start >= 0 && !lines[start].includes("/**")) start-- }
    const hasExample = start >= 0 && lines.slice(start, end + 1).some((doc) => /^\s*\*\s*@example\b/.test(doc))
    const known = documented.get(name)
    documented.set(name, { line: known?.line ?? index + 1, hasExample: (known?.hasExample ?? false) || hasExample })
  }
  return [...documented].filter(([, { hasExample }]) => !hasExample).map(([name, { line }]) => ({ name, line }))
}

mkdirSync(join(root, ".scratch"), { recursive: true })
const out = mkdtempSync(join(root, ".scratch", "examples-"))
const origins = new Map()
const failures = []
for (const file of dirs.flatMap(sourcesIn)) {
  const text = readFileSync(file, "utf8")
  if (!relative(root, file).split(/[\\/]/).includes("internal")) {
    for (const { line, name } of undocumentedIn(text)) {
      failures.push(`${relative(root, file)}:${line}:1 \`${name}\` is exported without an @example`)
    }
  }
  for (const example of examplesIn(text)) {
    const name = `example${origins.size}.ts`
    writeFileSync(join(out, name), `${example.code}\nexport {}\n`)
    origins.set(name, { file: relative(root, file), line: example.line })
  }
}
writeFileSync(
  join(out, "tsconfig.json"),
  JSON.stringify({
    extends: relative(out, join(root, "tsconfig.base.json")),
    compilerOptions: {
      noEmit: true,
      customConditions: ["@capstan/source"],
      // an example may show a value without using it
      noUnusedLocals: false,
      noUnusedParameters: false,
      declaration: false,
      declarationMap: false,
      sourceMap: false,
      plugins: []
    },
    include: ["*.ts"]
  })
)

let output = ""
try {
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(out, "tsconfig.json")], {
    cwd: out,
    encoding: "utf8",
    stdio: "pipe"
  })
} catch (error) {
  output = `${error.stdout ?? ""}${error.stderr ?? ""}`
  if (output.trim() === "") output = String(error)
}

for (const line of output.split("\n").filter((line) => line.trim() !== "")) {
  const match = /^(example\d+\.ts)\((\d+),(\d+)\): (.*)$/.exec(line)
  const origin = match === null ? undefined : origins.get(match[1])
  if (match === null || origin === undefined) {
    // a continuation line of the previous message, or an error outside the examples
    if (failures.length > 0 && /^\s/.test(line)) failures[failures.length - 1] += `\n${line}`
    else failures.push(line)
    continue
  }
  failures.push(`${origin.file}:${origin.line + Number(match[2]) - 1}:${match[3]} ${match[4]}`)
}
if (!values.keep) rmSync(out, { recursive: true, force: true })
for (const failure of failures) console.error(failure)
const files = new Set([...origins.values()].map((origin) => origin.file)).size
console.log(`${origins.size} examples in ${files} files checked, ${failures.length} failing`)
if (failures.length > 0) process.exitCode = 1
