/**
 * A batch too large to hold in memory. The inputs come from a source that can be read twice (here a generator
 * function; in practice a file or a query), never an array of them all:
 * 1. every input is checked with `Dataset.checker` before anything is sent (one bad input near the end stops the
 *    batch with its id and the count of bad ones, and no request goes out);
 * 2. the source is read again, each input rendered as it is needed (`Dataset.renderItem`) and streamed through the
 *    batch engine into a JSON Lines file, rows written as they complete.
 * What stays in memory per item is its id. This is how `capstan batch` reads its input files.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-large-input.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import {
  Batch,
  Dataset,
  type Generator,
  type InvalidItem,
  type InvalidParams,
  Template,
  type TemplateMismatch
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { NodeServices } from "@effect/platform-node"
import { Console, Effect, Result, Stream } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { runMain } from "./run.js"

export const template: Template.TextTemplate<"review"> = Template.make(
  "Answer with one word, positive or negative. Review: {review}"
)

const phrases = [
  "Rich and smooth, I buy it every week",
  "Stale beans and a torn bag",
  "Bright, fruity, lovely with milk",
  "Bitter and burnt whatever the grind"
]

/** The source: made anew on every call, one input at a time. */
export const reviews = (count: number) =>
  function*(): Generator<Readonly<Record<string, string>>> {
    for (let i = 0; i < count; i++) yield { id: `review-${i}`, review: `${phrases[i % phrases.length]} (order ${i})` }
  }

/** First pass: every input checked against the template; the number of items, or what is wrong with them. */
export const checkAll = (inputs: Iterable<unknown>): Effect.Effect<number, InvalidItem | TemplateMismatch> =>
  Effect.suspend(() => {
    const checker = Dataset.checker(template)
    for (const input of inputs) checker.check(input)
    return Effect.fromResult(checker.done())
  })

/** Second pass: the inputs read again, rendered one at a time. A fresh checker, so that derived ids come out the same. */
export const rendered = (
  inputs: Iterable<unknown>
): Stream.Stream<Dataset.RenderedItem, InvalidItem | TemplateMismatch> =>
  Stream.suspend(() => {
    const checker = Dataset.checker(template)
    return Stream.fromIterable(inputs).pipe(
      Stream.mapEffect((input) => Effect.fromResult(checker.check(input))),
      Stream.map((item) => Dataset.renderItem(template, item))
    )
  })

/** Both passes over `count` generated reviews, the rows written to `output`; the rows written and how many are ok. */
export const run = (count: number, output: string): Effect.Effect<
  { readonly written: number; readonly ok: number },
  InvalidItem | TemplateMismatch | InvalidParams | Error,
  Generator.Generator
> =>
  Effect.gen(function*() {
    const source = reviews(count)

    // A source with one bad input at the very end is refused before any request.
    const broken = yield* Effect.result(checkAll([...source(), { id: "review-x", text: "misspelt column" }]))
    if (Result.isFailure(broken)) yield* Console.log(`Rejected before sending: ${broken.failure.message}\n`)

    const checked = yield* checkAll(source())
    yield* Console.log(`${checked} reviews checked against the template; sending them now`)

    let ok = 0
    const written = yield* Batch.stream(rendered(source()), { concurrency: 64 }).pipe(
      Stream.tap((row) => Effect.sync(() => (row.error === undefined ? ok++ : undefined))),
      Batch.writeJsonl(output),
      Effect.provide(NodeServices.layer)
    )
    yield* Console.log(`${written} rows written to ${output} (${ok} ok), each as it completed`)
    return { written, ok }
  })

export const program = run(10_000, path.join(os.tmpdir(), "capstan-large-input.jsonl"))

/** Offline: the mock answers every review at once. */
export const mock = MockGenerator.fixed("positive")

runMain(import.meta, program, mock)
