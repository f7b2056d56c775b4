/**
 * The JSDoc example check (`pnpm examples:check`) as CI runs it: a deliberately broken `@example` must fail it,
 * naming the source file and line, while a sound one passes; so must a public export without an example.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { repoRoot } from "../cli/process.js"

const moduleWith = (example: string) =>
  [
    "/**",
    " * A function with an example.",
    " *",
    " * @example",
    " * ```ts",
    ...example.split("\n").map((line) => ` * ${line}`),
    " * ```",
    " * @since 0.1.0",
    " */",
    "export const documented = 1",
    ""
  ].join("\n")

const check = (dir: string): { readonly code: number; readonly output: string } => {
  try {
    const stdout = execFileSync(process.execPath, [join(repoRoot, "scripts/check-examples.mjs"), dir], {
      cwd: repoRoot,
      encoding: "utf8",
      stdio: "pipe"
    })
    return { code: 0, output: stdout }
  } catch (error) {
    const failed = error as { status: number; stdout: string; stderr: string }
    return { code: failed.status, output: `${failed.stdout}${failed.stderr}` }
  }
}

let fixtures: string
beforeAll(() => {
  mkdirSync(join(repoRoot, ".scratch"), { recursive: true })
  fixtures = mkdtempSync(join(repoRoot, ".scratch", "examples-fixture-"))
})
afterAll(() => rmSync(fixtures, { recursive: true, force: true }))

describe("examples:check", () => {
  it("passes sound examples that import the packages as a user does", () => {
    const dir = join(fixtures, "sound")
    mkdirSync(dir)
    writeFileSync(
      join(dir, "Sound.ts"),
      moduleWith(`import { Template } from "@capstan/core"\n\nconst t = Template.make("Hi {name}")\nt.variables`)
    )
    const result = check(dir)
    expect(result.output).toContain("1 examples in 1 files checked, 0 failing")
    expect(result.code).toBe(0)
  }, 120_000)

  it("fails on a broken example and names the file and line of the mistake", () => {
    const dir = join(fixtures, "broken")
    mkdirSync(dir)
    // A renamed function: `Template.mak` does not exist. The mistake sits on the example's third line, which is
    // line 8 of the file (the example's code starts on line 6).
    writeFileSync(
      join(dir, "Broken.ts"),
      moduleWith(`import { Template } from "@capstan/core"\n\nconst t = Template.mak("Hi {name}")\nt.variables`)
    )
    const result = check(dir)
    expect(result.code).toBe(1)
    expect(result.output).toMatch(/Broken\.ts:8:\d+ error TS2551: Property 'mak' does not exist/)
    expect(result.output).toContain("1 examples in 1 files checked, 1 failing")
  }, 120_000)

  it("fails on a name a public module exports without an example, but not on internal modules", () => {
    const dir = join(fixtures, "undocumented")
    mkdirSync(join(dir, "internal"), { recursive: true })
    const bare = "/** Documented, but with no example. */\nexport const bare = 2\n"
    writeFileSync(join(dir, "Bare.ts"), `${moduleWith("const n = 1\nn")}\n${bare}`)
    writeFileSync(join(dir, "internal", "helper.ts"), bare)
    const result = check(dir)
    expect(result.code).toBe(1)
    expect(result.output).toMatch(/Bare\.ts:14:1 `bare` is exported without an @example/)
    expect(result.output).not.toContain("helper.ts")
    expect(result.output).toContain("1 examples in 1 files checked, 1 failing")
  }, 120_000)
})
