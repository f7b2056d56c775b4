import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Result, Stream } from "effect"
import * as Input from "../../packages/cli/src/Input.js"

const failure = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure
}
const success = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected a success, got ${String(result.failure)}`)
  return result.success
}

describe("Input.parseJsonl", () => {
  it("keeps the line of every record and skips blank lines", () => {
    const records = success(Input.parseJsonl("in.jsonl", "\uFEFF{\"id\":\"a\",\"x\":1}\n\n  \r\n{\"id\":\"b\",\"x\":2}\r\n"))
    assert.deepStrictEqual(records.map((r) => [r.line, r.fields.id]), [[1, "a"], [4, "b"]])
  })

  it("names the file and line of a malformed line", () => {
    const error = failure(Input.parseJsonl("in.jsonl", "{\"id\":\"a\"}\n{\"id\": \"b\",\n{\"id\":\"c\"}\n"))
    assert.strictEqual(error.file, "in.jsonl")
    assert.strictEqual(error.line, 2)
    assert.match(error.message, /^in\.jsonl:2: malformed JSON/)
  })

  it("rejects a line that is JSON but not an object", () => {
    const error = failure(Input.parseJsonl("in.jsonl", "{\"id\":\"a\"}\n[1,2]\n"))
    assert.strictEqual(error.line, 2)
    assert.match(error.reason, /expected a JSON object, got an array/)
  })
})

describe("Input.parseCsv", () => {
  it("handles quotes, doubled quotes, embedded newlines and CRLF, with each record's first line", () => {
    const text = "id,review\r\nr1,\"Smooth, \"\"nutty\"\" finish\"\r\nr2,\"two\nlines\"\n\nr3,plain\n"
    const { columns, records } = success(Input.parseCsv("in.csv", text))
    assert.deepStrictEqual(columns, ["id", "review"])
    assert.deepStrictEqual(records, [
      { line: 2, fields: { id: "r1", review: "Smooth, \"nutty\" finish" } },
      { line: 3, fields: { id: "r2", review: "two\nlines" } },
      { line: 6, fields: { id: "r3", review: "plain" } }
    ])
  })

  it("names the line of a record with a missing field", () => {
    const error = failure(Input.parseCsv("in.csv", "id,review,rating\nr1,good,5\nr2,bad\n"))
    assert.strictEqual(error.line, 3)
    assert.match(error.reason, /got 2.*header has 3 columns \(id, review, rating\)/)
  })

  it("rejects an unclosed quote and a repeated column", () => {
    assert.match(failure(Input.parseCsv("in.csv", "id,review\nr1,\"open\n")).reason, /Quote Not Closed/)
    const repeated = failure(Input.parseCsv("in.csv", "id,review,review\nr1,a,b\n"))
    assert.strictEqual(repeated.line, 1)
    assert.match(repeated.reason, /"review" twice/)
  })

  it("keeps counting lines right after quoted fields that hold CRLF", () => {
    const text = "id,review\r\na,\"two\r\nlines\"\r\nb,plain\r\nc,\"three\r\nmore\r\nlines\"\r\n\r\nd,last\r\n"
    const { records } = success(Input.parseCsv("in.csv", text))
    assert.deepStrictEqual(records.map((r) => [r.fields.id, r.line]), [["a", 2], ["b", 4], ["c", 5], ["d", 9]])
    assert.strictEqual(records[2]?.fields.review, "three\r\nmore\r\nlines")
    const error = failure(Input.parseCsv("in.csv", text + "e\r\n"))
    assert.strictEqual(error.line, 10)
  })

  it("reads tab-separated values", () => {
    const { records } = success(Input.parseCsv("in.tsv", "id\treview\nr1\ta, b\n", { delimiter: "\t" }))
    assert.deepStrictEqual(records[0]?.fields, { id: "r1", review: "a, b" })
  })
})

describe("Input.read", () => {
  it.effect("picks the format by extension and explains an unreadable file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      yield* fs.writeFileString(`${dir}/in.csv`, "id,x\na,1\n")
      const csv = yield* Input.read(`${dir}/in.csv`)
      assert.strictEqual(csv.format, "csv")
      assert.deepStrictEqual(csv.records[0]?.fields, { id: "a", x: "1" })

      const missing = yield* Effect.flip(Input.read(`${dir}/nope.jsonl`))
      assert.match(missing.message, /nope\.jsonl: cannot read the file: no such file/)
      yield* fs.makeDirectory(`${dir}/dir.jsonl`)
      assert.match((yield* Effect.flip(Input.read(`${dir}/dir.jsonl`))).reason, /it is a directory/)
      assert.match((yield* Effect.flip(Input.read(`${dir}/in.xlsx`))).reason, /unknown input format/)
      yield* fs.writeFileString(`${dir}/empty.jsonl`, "\n\n")
      assert.match((yield* Effect.flip(Input.read(`${dir}/empty.jsonl`))).reason, /no items/)
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("Input.stream", () => {
  it.effect("reads record by record what read reads, lines and all, across chunk boundaries", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      // Well over one read chunk (64 KiB), with quoted fields that span lines, CRLF, blank lines and a BOM.
      const rows = Array.from({ length: 3000 }, (_, i) =>
        i % 7 === 0 ? `r${i},"first line ${i}\nsecond, ""quoted"" line"` : `r${i},plain ${"x".repeat(i % 50)}`)
      const text = "\uFEFFid,review\r\n" + rows.map((row, i) => (i % 11 === 0 ? `${row}\r\n\r\n` : `${row}\n`)).join("")
      yield* fs.writeFileString(`${dir}/in.csv`, text)
      const jsonl = rows.map((_, i) => (i % 13 === 0 ? "\n" : "") + JSON.stringify({ id: `r${i}`, n: i })).join("\r\n")
      yield* fs.writeFileString(`${dir}/in.jsonl`, "\uFEFF" + jsonl)
      for (const file of [`${dir}/in.csv`, `${dir}/in.jsonl`]) {
        const streamed = yield* Stream.runCollect(Input.stream(file))
        const read = yield* Input.read(file)
        assert.strictEqual(streamed.length, 3000)
        assert.deepStrictEqual(streamed, read.records)
      }
      const csvRecords = yield* Stream.runCollect(Input.stream(`${dir}/in.csv`))
      assert.deepStrictEqual(csvRecords[7], { line: 11, fields: { id: "r7", review: "first line 7\nsecond, \"quoted\" line" } })
      assert.deepStrictEqual(yield* Input.header(`${dir}/in.csv`), ["id", "review"])

      // The same errors as read, at the same line, even past the first chunk.
      yield* fs.writeFileString(`${dir}/late.jsonl`, jsonl + "\n[1]\n")
      const late = yield* Effect.flip(Stream.runDrain(Input.stream(`${dir}/late.jsonl`)))
      assert.deepStrictEqual(late, yield* Effect.flip(Input.read(`${dir}/late.jsonl`)))
      assert.match(late.message, /late\.jsonl:3232: expected a JSON object, got an array/)
      yield* fs.writeFileString(`${dir}/late.csv`, text + "r9,too,many\n")
      const lateCsv = yield* Effect.flip(Stream.runDrain(Input.stream(`${dir}/late.csv`)))
      assert.deepStrictEqual(lateCsv, yield* Effect.flip(Input.read(`${dir}/late.csv`)))
      assert.match(lateCsv.reason, /got 3; the header has 2 columns/)
      yield* fs.writeFileString(`${dir}/empty.csv`, "id,review\n")
      assert.match((yield* Effect.flip(Stream.runDrain(Input.stream(`${dir}/empty.csv`)))).reason, /no items/)
    }).pipe(Effect.provide(NodeServices.layer)))
})
