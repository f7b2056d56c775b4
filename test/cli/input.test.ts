import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Result, Stream } from "effect"
import { InputError } from "../../packages/cli/src/Errors.js"
import * as Input from "../../packages/cli/src/Input.js"
import * as TextEncoding from "../../packages/cli/src/internal/encoding.js"

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
    const records = success(
      Input.parseJsonl("in.jsonl", "\uFEFF{\"id\":\"a\",\"x\":1}\n\n  \r\n{\"id\":\"b\",\"x\":2}\r\n")
    )
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
      const rows = Array.from(
        { length: 3000 },
        (_, i) => i % 7 === 0 ? `r${i},"first line ${i}\nsecond, ""quoted"" line"` : `r${i},plain ${"x".repeat(i % 50)}`
      )
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
      assert.deepStrictEqual(csvRecords[7], {
        line: 11,
        fields: { id: "r7", review: "first line 7\nsecond, \"quoted\" line" }
      })
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

describe("Input: text that is not UTF-8", () => {
  const LINES = 3000
  /** `count` JSONL lines (well over one 64 KiB read); `line` (1-based) holds `review` instead. */
  const jsonl = (line: number, review: string) =>
    Array.from(
      { length: LINES },
      (_, i) => JSON.stringify({ id: `r${i + 1}`, review: i + 1 === line ? review : `plain review number ${i + 1}` })
    ).join("\n") + "\n"
  const latin1 = (text: string) => Buffer.from(text, "latin1")

  it.effect("is refused at file:line:column, JSONL or CSV, streamed or read whole, past the first chunk", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      yield* fs.writeFile(`${dir}/in.jsonl`, latin1(jsonl(2500, "café crème")))
      const csv = "id,review\r\n" + Array.from({ length: LINES }, (_, i) =>
        i === 2000 ? "late,\"first\r\nsecond, café\"" : `r${i},"plain\r\nreview ${i}"`).join("\r\n") +
        "\r\n"
      yield* fs.writeFile(`${dir}/in.csv`, latin1(csv))
      const expected = [
        { file: `${dir}/in.jsonl`, line: 2500, column: "{\"id\":\"r2500\",\"review\":\"caf".length + 1 },
        { file: `${dir}/in.csv`, line: 2 + 2 * 2000 + 1, column: "second, caf".length + 1 }
      ]
      for (const { column, file, line } of expected) {
        for (
          const error of [yield* Effect.flip(Stream.runDrain(Input.stream(file))), yield* Effect.flip(Input.read(file))]
        ) {
          assert.instanceOf(error, InputError)
          assert.deepStrictEqual([error.file, error.line, error.column], [file, line, column])
          assert.strictEqual(error.reason, "not valid UTF-8: byte 0xE9")
          assert.include(
            error.message,
            `${file}:${line}:${column}: not valid UTF-8: byte 0xE9\n  Re-save the file as UTF-8`
          )
          assert.include(error.hint, "--encoding latin1")
        }
      }

      // Named, the encoding is decoded: the same records as the UTF-8 file.
      const encoding = yield* Effect.fromResult(Input.encoding("latin1"))
      yield* fs.writeFileString(`${dir}/utf8.jsonl`, jsonl(2500, "café crème"))
      const decoded = yield* Stream.runCollect(Input.stream(`${dir}/in.jsonl`, { encoding }))
      assert.deepStrictEqual(decoded, yield* Stream.runCollect(Input.stream(`${dir}/utf8.jsonl`)))
      assert.strictEqual(decoded[2499]?.fields.review, "café crème")
      const csvRecords = (yield* Input.read(`${dir}/in.csv`, { encoding })).records
      assert.deepStrictEqual(csvRecords[2000], { line: 4002, fields: { id: "late", review: "first\r\nsecond, café" } })
      assert.deepStrictEqual(yield* Stream.runCollect(Input.stream(`${dir}/in.csv`, { encoding })), csvRecords)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("reads UTF-8 characters split between reads, and UTF-16 by its byte order mark or when named", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      // Two-, three- and four-byte characters all the way, so that reads end inside some of them.
      const text = jsonl(2999, "é€😀".repeat(20000))
      yield* fs.writeFileString(`${dir}/in.jsonl`, text)
      const records = yield* Stream.runCollect(Input.stream(`${dir}/in.jsonl`))
      assert.strictEqual(records.length, LINES)
      assert.strictEqual(records[2998]?.fields.review, "é€😀".repeat(20000))

      const small = "id,review\r\nr1,\"Crème brûlée,\r\nvery 😀\"\r\nr2,plain\r\n"
      const expected = success(Input.parseCsv("in.csv", small)).records
      const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(small, "utf16le")])
      const utf16be = Buffer.from(utf16le).swap16()
      yield* fs.writeFile(`${dir}/le.csv`, utf16le)
      yield* fs.writeFile(`${dir}/be.csv`, utf16be)
      assert.deepStrictEqual((yield* Input.read(`${dir}/le.csv`)).records, expected)
      assert.deepStrictEqual(yield* Stream.runCollect(Input.stream(`${dir}/be.csv`)), expected)

      // Without a byte order mark, UTF-16 is full of NUL bytes: refused, with the way to read it.
      yield* fs.writeFile(`${dir}/bare.csv`, Buffer.from(small, "utf16le"))
      const bare = yield* Effect.flip(Input.read(`${dir}/bare.csv`))
      assert.deepStrictEqual([bare.line, bare.column, bare.reason], [1, 2, "byte 0x00 (NUL), which is not text"])
      assert.include(bare.hint, "--encoding utf-16le")
      const utf16 = yield* Effect.fromResult(Input.encoding("UTF-16LE"))
      assert.deepStrictEqual((yield* Input.read(`${dir}/bare.csv`, { encoding: utf16 })).records, expected)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("refuses a template file the same way, and a file that ends inside a character", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      yield* fs.writeFile(`${dir}/template.txt`, latin1("Classify:\nRésumé of {review}\n"))
      const error = yield* Effect.flip(Input.readText(`${dir}/template.txt`))
      assert.strictEqual(error.message.split("\n")[0], `${dir}/template.txt:2:2: not valid UTF-8: byte 0xE9`)
      const encoding = yield* Effect.fromResult(Input.encoding("windows-1252"))
      assert.strictEqual(yield* Input.readText(`${dir}/template.txt`, { encoding }), "Classify:\nRésumé of {review}\n")

      yield* fs.writeFile(
        `${dir}/cut.jsonl`,
        Buffer.concat([Buffer.from("{\"id\":\"a\"}\n{\"id\":\"caf"), Buffer.from("é").subarray(0, 1)])
      )
      const cut = yield* Effect.flip(Input.read(`${dir}/cut.jsonl`))
      assert.deepStrictEqual([cut.line, cut.column, cut.reason], [
        2,
        11,
        "the file ends in the middle of a UTF-8 character"
      ])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("converts and locates alike whatever the read boundaries, in every encoding", () =>
    Effect.gen(function*() {
      const text = "id,review\r\nr1,\"Crème brûlée, € 5\"\r\nr2,\"smile 😀 😀\"\n"
      const inChunks = (bytes: Uint8Array, size: number) =>
        Stream.fromIterable(
          Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))
        )
      const convert = (bytes: Uint8Array, size: number, encoding?: TextEncoding.Encoding) =>
        inChunks(bytes, size).pipe(TextEncoding.toUtf8("in.csv", encoding), Stream.decodeText, Stream.mkString)
      const utf16le = Buffer.from(text, "utf16le")
      const cases: ReadonlyArray<readonly [Uint8Array, TextEncoding.Encoding | undefined]> = [
        [Buffer.from(text), undefined],
        [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), undefined],
        [utf16le, success(Input.encoding("utf-16le"))],
        [Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(utf16le).swap16()]), undefined],
        [Buffer.from(text.replace(/[😀€]/g, ""), "latin1"), success(Input.encoding("latin1"))]
      ]
      for (const [bytes, encoding] of cases) {
        for (const size of [1, 2, 3, 5, 7, 64]) {
          const expected = encoding === "windows-1252" ? text.replace(/[😀€]/g, "") : text
          assert.strictEqual(yield* convert(bytes, size, encoding), expected, `${encoding} in chunks of ${size}`)
        }
      }
      // A bad byte read long after its line began.
      const bad = Buffer.concat([Buffer.from("ok\nr1,\"Crème "), Buffer.from([0xe9]), Buffer.from("\"\n")])
      for (const size of [1, 2, 3, 64]) {
        const error = yield* Effect.flip(convert(bad, size))
        assert.deepStrictEqual([error.line, error.column], [2, 11], `chunks of ${size}`)
      }
      const unpaired = Buffer.concat([Buffer.from("a\nbc", "utf16le"), Buffer.from([0x00, 0xd8, 0x41, 0x00])])
      const error = yield* Effect.flip(convert(unpaired, 3, success(Input.encoding("utf-16le"))))
      assert.deepStrictEqual([error.line, error.column, error.reason], [
        2,
        3,
        "not valid UTF-16LE: an unpaired surrogate"
      ])
    }))

  it("names only the encodings it can read", () => {
    assert.deepStrictEqual(
      ["utf8", "latin1", "ISO-8859-1", "cp1252", "utf-16le", "utf-16be"].map((name) => success(Input.encoding(name))),
      ["utf-8", "windows-1252", "windows-1252", "windows-1252", "utf-16le", "utf-16be"]
    )
    assert.match(failure(Input.encoding("klingon")).reason, /--encoding klingon: unknown encoding/)
    assert.match(failure(Input.encoding("shift_jis")).reason, /--encoding shift_jis: not supported/)
  })
})
