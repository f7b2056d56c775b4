/**
 * End to end: input and template files that are not UTF-8 are refused at `file:line:column` before anything is
 * sent (never sent as U+FFFD), or read as the encoding `--encoding` names; CSV line numbers stay right after
 * quoted fields that hold CRLF.
 */
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { rowsOf, runCli, scratch } from "./process.js"

const latin1 = (text: string) => Buffer.from(text, "latin1")

const jsonl = [
  JSON.stringify({ id: "a", product: "Blend", review: "plain" }),
  JSON.stringify({ id: "b", product: "Crème", review: "café au lait, très bon" })
].join("\n") + "\n"

const csv = "id,product,review\r\na,Blend,\"two\r\nlines\"\r\nb,Crème,\"café, très bon\"\r\n"

describe.concurrent("input that is not UTF-8", () => {
  const cases = [
    {
      name: "a latin1 JSONL file",
      file: "in.jsonl",
      bytes: latin1(jsonl),
      where: "in.jsonl:2:24",
      template: undefined
    },
    { name: "a latin1 CSV file", file: "in.csv", bytes: latin1(csv), where: "in.csv:4:5", template: undefined },
    {
      name: "a latin1 template file",
      file: "in.jsonl",
      bytes: Buffer.from(jsonl),
      where: "prompt.txt:2:5",
      template: latin1("Review of {product}:\nCritère: {review}\n")
    }
  ]
  for (const testCase of cases) {
    it(`${testCase.name} is refused at file:line:column with how to fix it, sending nothing (exit 64)`, async ({ onTestFinished }) => {
      const files = scratch({})
      onTestFinished(files.remove)
      writeFileSync(join(files.dir, testCase.file), testCase.bytes)
      const template = join(files.dir, "prompt.txt")
      writeFileSync(template, testCase.template ?? "Review of {product}: {review}\n")
      const output = join(files.dir, "out.jsonl")
      const result = await runCli([
        "batch",
        "--template",
        template,
        "--input",
        join(files.dir, testCase.file),
        "--output",
        output,
        "--generator",
        "mock!echo"
      ])
      expect(result.stderr).toContain(`${join(files.dir, testCase.where)}: not valid UTF-8: byte 0x`)
      expect(result.stderr).toContain("Re-save the file as UTF-8, or name its encoding, e.g. --encoding latin1")
      expect(result.code).toBe(64)
      expect(existsSync(output)).toBe(false)
    })
  }

  it("with --encoding latin1, every file is read as latin1 and sent as the text it holds", async ({ onTestFinished }) => {
    const files = scratch({})
    onTestFinished(files.remove)
    writeFileSync(join(files.dir, "in.csv"), latin1(csv))
    writeFileSync(join(files.dir, "prompt.txt"), latin1("Critère {product}: {review}\n"))
    const output = join(files.dir, "out.jsonl")
    const args = [
      "batch",
      "--template",
      join(files.dir, "prompt.txt"),
      "--input",
      join(files.dir, "in.csv"),
      "--output",
      output,
      "--generator",
      "mock!echo",
      "--encoding",
      "latin1"
    ]
    const result = await runCli(args)
    expect(result.stderr).not.toMatch(/error/i)
    expect(result.code).toBe(0)
    const rows = rowsOf(output)
    expect(rows.find((row) => row.id === "b")!.output).toBe("Critère Crème: café, très bon")
    expect(JSON.stringify(rows)).not.toContain("\uFFFD")

    const bogus = await runCli([...args.slice(0, -1), "utf-42"])
    expect(bogus.stderr).toContain("error: --encoding utf-42: unknown encoding")
    expect(bogus.code).toBe(64)
  })

  it("a UTF-16 file with a byte order mark is read as such", async ({ onTestFinished }) => {
    const files = scratch({})
    onTestFinished(files.remove)
    writeFileSync(
      join(files.dir, "in.jsonl"),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(jsonl, "utf16le")])
    )
    const output = join(files.dir, "out.jsonl")
    const result = await runCli([
      "batch",
      "--template",
      "Review of {product}: {review}",
      "--input",
      join(files.dir, "in.jsonl"),
      "--output",
      output,
      "--generator",
      "mock!echo"
    ])
    expect(result.code).toBe(0)
    expect(rowsOf(output).find((row) => row.id === "b")!.output).toBe("Review of Crème: café au lait, très bon")
  })
})

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
      "batch",
      "--template",
      "{product}: {review}",
      "--input",
      input,
      "--output",
      join(files.dir, "out.jsonl"),
      "--generator",
      "mock!echo",
      "--dry-run"
    ])
    expect(result.code).toBe(0)
    expect([...result.stdout.matchAll(/^--- (\w) \((.*)\)$/gm)].map((m) => `${m[1]} ${m[2]}`)).toEqual([
      `a ${input}:2`,
      `b ${input}:4`,
      `c ${input}:5`,
      `d ${input}:9`
    ])
  })

  it("a bad record after them is named at its own line", async ({ onTestFinished }) => {
    const files = scratch({ "in.csv": text + "e,Latte\r\n" })
    onTestFinished(files.remove)
    const result = await runCli([
      "batch",
      "--template",
      "{product}: {review}",
      "--input",
      join(files.dir, "in.csv"),
      "--output",
      join(files.dir, "out.jsonl"),
      "--generator",
      "mock!echo",
      "--dry-run"
    ])
    expect(result.stderr).toContain(`${join(files.dir, "in.csv")}:10: `)
    expect(result.code).toBe(64)
  })
})
