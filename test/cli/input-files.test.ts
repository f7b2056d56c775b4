/**
 * End to end: CSV line numbers stay right after quoted fields that hold CRLF.
 */
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runCli, scratch } from "./process.js"

describe.concurrent("CSV line numbers after quoted fields that hold CRLF", () => {
  const text = [
    "id,product,review",
    "a,Blend,\"first\r\nsecond\"",
    "b,Roast,plain",
    "c,Decaf,\"one\r\ntwo\r\nthree\"",
    "",
    "d,Mocha,last"
  ].join("\r\n") + "\r\n"

  it("--dry-run names each item's own line", async ({ onTestFinished }) => {
    const files = scratch({ "in.csv": text })
    onTestFinished(files.remove)
    const input = join(files.dir, "in.csv")
    const result = await runCli([
      "batch", "--template", "{product}: {review}", "--input", input, "--output", join(files.dir, "out.jsonl"),
      "--generator", "mock!echo", "--dry-run"
    ])
    expect(result.code).toBe(0)
    expect([...result.stdout.matchAll(/^--- (\w) \((.*)\)$/gm)].map((m) => `${m[1]} ${m[2]}`)).toEqual([
      `a ${input}:2`, `b ${input}:4`, `c ${input}:5`, `d ${input}:9`
    ])
  })

  it("a bad record after them is named at its own line", async ({ onTestFinished }) => {
    const files = scratch({ "in.csv": text + "e,Latte\r\n" })
    onTestFinished(files.remove)
    const result = await runCli([
      "batch", "--template", "{product}: {review}", "--input", join(files.dir, "in.csv"), "--output",
      join(files.dir, "out.jsonl"), "--generator", "mock!echo", "--dry-run"
    ])
    expect(result.stderr).toContain(`${join(files.dir, "in.csv")}:10: `)
    expect(result.code).toBe(64)
  })
})
