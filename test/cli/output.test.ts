import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Option } from "effect"
import * as Output from "../../packages/cli/src/Output.js"

const row = (id: string, choice = 0) => JSON.stringify({ id, choice, output: `answer ${id}` })
const failedRow = (
  id: string,
  choice = 0,
  error: object = { _tag: "ServerError", provider: "p", detail: "", status: 500 }
) => JSON.stringify({ id, choice, error })
const keys = (recorded: Output.Recorded) => [...recorded.statuses.keys()]

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
      assert.deepStrictEqual(
        keys(recorded).sort(),
        [Output.keyOf("a", 0), Output.keyOf("b", 0), Output.keyOf("b", 1)].sort()
      )
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
      assert.deepStrictEqual(keys(recorded), [Output.keyOf("a", 0), Output.keyOf("b", 0)])
      assert.strictEqual(yield* contents, `${row("a")}\n${row("b")}\n`)
      yield* Effect.scoped(Effect.flatMap(Output.open(file, { mode: "append" }), (sink) => sink.append(row("c"))))
      assert.strictEqual((yield* contents).split("\n").filter((l) => l.length > 0).length, 3)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("keeps a whole last row that only lacks its newline", () =>
    Effect.gen(function*() {
      const { contents, file } = yield* resultsFile(`${row("a")}\n${row("b")}`)
      const recorded = yield* Output.recorded(file)
      assert.deepStrictEqual(keys(recorded), [Output.keyOf("a", 0), Output.keyOf("b", 0)])
      assert.strictEqual(yield* contents, `${row("a")}\n${row("b")}\n`)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("records each row's status: ok, or failed with its kind and whether a retry may cure it", () =>
    Effect.gen(function*() {
      const auth = { _tag: "AuthenticationError", provider: "p", detail: "bad key", status: 401 }
      const { file } = yield* resultsFile(`${row("a")}\n${failedRow("b")}\n${failedRow("c", 0, auth)}\n`)
      const { statuses } = yield* Output.recorded(file)
      assert.deepStrictEqual(
        statuses.get(Output.keyOf("a", 0)),
        { ok: true, kind: undefined, retryable: false, line: 1 } as never
      )
      assert.include(statuses.get(Output.keyOf("b", 0)), { ok: false, kind: "ServerError", retryable: true })
      assert.include(statuses.get(Output.keyOf("c", 0)), { ok: false, kind: "AuthenticationError", retryable: false })
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a resumed run writes replacements aside and merges them when it ends: one row per key, the latest", () =>
    Effect.gen(function*() {
      const { contents, file } = yield* resultsFile(`${row("a")}\n${failedRow("b")}\n${failedRow("c")}\n`)
      const before = yield* Output.recorded(file)
      yield* Effect.scoped(Effect.gen(function*() {
        const writer = yield* Output.writer(file, {
          mode: "append",
          replaces: (key) => before.statuses.has(Output.keyOf(key.id, key.choice))
        })
        yield* writer.write({ id: "b", choice: 0 }, row("b"))
        yield* writer.write({ id: "d", choice: 0 }, row("d"))
        // While the run goes on, the results file never holds a failed row beside its replacement.
        assert.strictEqual(yield* contents, `${row("a")}\n${failedRow("b")}\n${failedRow("c")}\n${row("d")}\n`)
      }))
      assert.strictEqual(yield* contents, `${row("a")}\n${failedRow("c")}\n${row("d")}\n${row("b")}\n`)
      const fs = yield* FileSystem.FileSystem
      assert.isFalse(yield* fs.exists(Output.pendingOf(file)))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("after a crash, the next read merges what was pending (a torn pending row is dropped) and duplicates", () =>
    Effect.gen(function*() {
      const { contents, file } = yield* resultsFile(
        `${row("a")}\n${failedRow("b")}\n${failedRow("a")}\n${failedRow("c")}\n`
      )
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(Output.pendingOf(file), `${row("b")}\n{"id":"c","cho`)
      const dry = yield* Output.recorded(file, { repair: false })
      assert.strictEqual(dry.statuses.get(Output.keyOf("b", 0))?.ok, true)
      assert.strictEqual(yield* fs.readFileString(Output.pendingOf(file)), `${row("b")}\n{"id":"c","cho`)
      const recorded = yield* Output.recorded(file)
      assert.strictEqual(recorded.statuses.get(Output.keyOf("a", 0))?.ok, false)
      assert.strictEqual(recorded.statuses.get(Output.keyOf("c", 0))?.ok, false)
      assert.strictEqual(yield* contents, `${failedRow("a")}\n${failedRow("c")}\n${row("b")}\n`)
      assert.isFalse(yield* fs.exists(Output.pendingOf(file)))
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

  it.effect("a new results file starts without a stale pending file; an existing one is refused and its pending rows kept", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/results.jsonl`
      yield* fs.writeFileString(Output.pendingOf(file), `${row("stale")}\n`)
      yield* Effect.scoped(
        Effect.flatMap(
          Output.writer(file, { mode: "create" }),
          (writer) => writer.write({ id: "a", choice: 0 }, row("a"))
        )
      )
      assert.isFalse(yield* fs.exists(Output.pendingOf(file)))
      assert.deepStrictEqual(keys(yield* Output.recorded(file)), [Output.keyOf("a", 0)])

      yield* fs.writeFileString(Output.pendingOf(file), `${row("b")}\n`)
      const refused = yield* Effect.flip(Effect.scoped(Output.writer(file, { mode: "create" })))
      assert.match(refused.message, /already exists/)
      assert.isTrue(yield* fs.exists(Output.pendingOf(file)))
    }).pipe(Effect.provide(NodeServices.layer)))
})
