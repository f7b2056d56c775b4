/**
 * `capstan demo` finds its data set wherever the package is: in a directory whose path has a space (that the data
 * ships in the package's tarball is checked by test/packages.test.ts).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot, rowsOf, spawnCli } from "./process.js"

const cli = join(repoRoot, "packages/cli")

describe("capstan demo", () => {
  it("runs from a copy of the package in a directory whose path has a space", async ({ onTestFinished }) => {
    const root = mkdtempSync(join(tmpdir(), "capstan demo "))
    onTestFinished(() => rmSync(root, { recursive: true, force: true }))
    const copy = join(root, "packages", "cli")
    mkdirSync(copy, { recursive: true })
    for (const entry of ["package.json", "src", "data"]) {
      cpSync(join(cli, entry), join(copy, entry), { recursive: true })
    }
    // The copy resolves its dependencies (and tsx) through the workspace's.
    symlinkSync(join(cli, "node_modules"), join(copy, "node_modules"))
    symlinkSync(join(repoRoot, "node_modules"), join(root, "node_modules"))
    const output = join(root, "out dir", "demo.jsonl")
    const result = await spawnCli(["demo", "--output", output], { cwd: root, bin: join(copy, "src", "bin.ts") }).done
    expect(result.stderr).not.toMatch(/error/i)
    expect(result.code).toBe(0)
    expect(rowsOf(output)).toHaveLength(24)
  })
})
