import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Option } from "effect"
import * as Output from "../../packages/cli/src/Output.js"

const row = (id: string, choice = 0) => JSON.stringify({ id, choice, output: `answer ${id}` })

/** A results file holding `text`, in a fresh directory, and its contents read again. */
const resultsFile = (text: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped()
    const file = `${dir}/results.jsonl`
    yield* fs.writeFileString(file, text)
    return { dir, file, contents: fs.readFileString(file) }
  })

describe("Output", () => {
  it.effect("appends rows, one line each, and reads back what is recorded", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/sub/results.jsonl`
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* Output.open(file, { mode: "create" })
        yield* sink.append(row("a"))
        yield* sink.append(row("b", 0))
        yield* sink.append(row("b", 1))
      }))
      assert.strictEqual(yield* fs.readFileString(file), `${row("a")}\n${row("b", 0)}\n${row("b", 1)}\n`)
      const recorded = yield* Output.recorded(file)
      assert.strictEqual(recorded.rows, 3)
      assert.deepStrictEqual([...recorded.choices.get("b")!].sort(), [0, 1])
      assert.isFalse(recorded.droppedTornRow)

      // "create" never overwrites results; "append" continues them.
      const refused = yield* Effect.flip(Effect.scoped(Output.open(file, { mode: "create" })))
      assert.match(refused.message, /already exists/)
      assert.match(refused.message, /--resume/)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("cuts a torn last row (kill -9 mid-write) so the next row starts on a clean line", () =>
    Effect.gen(function*() {
      const { contents, file } = yield* resultsFile(`${row("a")}\n${row("b")}\n{"id":"c","cho`)
      const recorded = yield* Output.recorded(file)
      assert.isTrue(recorded.droppedTornRow)
      assert.deepStrictEqual([...recorded.choices.keys()], ["a", "b"])
      assert.strictEqual(yield* contents, `${row("a")}\n${row("b")}\n`)
      yield* Effect.scoped(Effect.flatMap(Output.open(file, { mode: "append" }), (sink) => sink.append(row("c"))))
      assert.strictEqual((yield* contents).split("\n").filter((l) => l.length > 0).length, 3)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("keeps a whole last row that only lacks its newline", () =>
    Effect.gen(function*() {
      const { contents, file } = yield* resultsFile(`${row("a")}\n${row("b")}`)
      const recorded = yield* Output.recorded(file)
      assert.deepStrictEqual([...recorded.choices.keys()], ["a", "b"])
      assert.strictEqual(yield* contents, `${row("a")}\n${row("b")}\n`)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("refuses a file whose middle line is not a row, naming the line", () =>
    Effect.gen(function*() {
      const { dir, file } = yield* resultsFile(`${row("a")}\nnot json\n${row("b")}\n`)
      const error = yield* Effect.flip(Output.recorded(file))
      assert.strictEqual(error.line, 2)
      assert.strictEqual((yield* Output.recorded(`${dir}/missing.jsonl`)).rows, 0)
    }).pipe(Effect.provide(NodeServices.layer)))

  it("reads the key of a row", () => {
    assert.deepStrictEqual(Output.rowKey("{\"id\":\"x\",\"choice\":2}"), Option.some({ id: "x", choice: 2 }))
    assert.deepStrictEqual(Output.rowKey("{\"id\":\"x\"}"), Option.some({ id: "x", choice: 0 }))
    assert.isTrue(Option.isNone(Output.rowKey("{\"id\":3}")))
    assert.isTrue(Option.isNone(Output.rowKey("{\"id\":\"x\"")))
  })
})
