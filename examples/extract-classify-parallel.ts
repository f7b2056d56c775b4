/**
 * sibila's async example: one `extract` (20 names, as a typed list of strings) and a `classify` of several
 * messages as spam or not, all in parallel. Each result is printed the moment it completes (a stream with
 * `unordered: true`), so the quick classifications show up before the long extraction that started first.
 * A task that fails is reported and does not stop the others. Then the totals.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/extract-classify-parallel.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { Extraction, type Generator, type PipelineError } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Clock, Console, Duration, Effect, type Layer, Schema, Stream } from "effect"
import { runMain } from "./run.js"

export const messages: ReadonlyArray<{ readonly id: string; readonly text: string }> = [
  { id: "m1", text: "I am a Nigerian prince and will make you very rich!" },
  { id: "m2", text: "Hi Sam, the design review moved to 3pm, room 4B." },
  { id: "m3", text: "Congratulations! You have been selected for a FREE cruise. Reply YES to claim your prize." },
  {
    id: "m4",
    text: "Your parcel is held at the depot. Pay the 1.99 fee at parcel-release.example to get it delivered."
  },
  { id: "m5", text: "Could you send me the slides from yesterday's talk?" }
]

export const spamLabels = ["spam", "not spam"] as const

export type SpamLabel = typeof spamLabels[number]

/** What one task gave, and when it finished (milliseconds since the start). */
export interface Completed {
  readonly task: string
  readonly result:
    | { readonly _tag: "Names"; readonly names: ReadonlyArray<string> }
    | { readonly _tag: "Label"; readonly label: SpamLabel }
    | { readonly _tag: "Failed"; readonly error: PipelineError }
  readonly tookMs: number
  readonly doneAtMs: number
}

/** A task to run in parallel with the others; it never fails (a failure is its result). */
export interface Task {
  readonly name: string
  /** What it is about, printed next to its result. */
  readonly subject: string
  readonly run: Effect.Effect<Completed["result"], never, Generator.Generator>
}

const settled = <A>(effect: Effect.Effect<A, PipelineError, Generator.Generator>, f: (a: A) => Completed["result"]) =>
  effect.pipe(Effect.map(f), Effect.catch((error) => Effect.succeed({ _tag: "Failed" as const, error })))

export const tasks: ReadonlyArray<Task> = [
  {
    name: "extract names",
    subject: "20 English names",
    run: settled(
      Extraction.extract(Schema.Array(Schema.String), "Generate 20 English names with first name and surname"),
      (names) => ({ _tag: "Names", names })
    )
  },
  ...messages.map((message): Task => ({
    name: `classify ${message.id}`,
    subject: JSON.stringify(message.text),
    run: settled(Extraction.classify(spamLabels, message.text), (label) => ({ _tag: "Label", label }))
  }))
]

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`

const describe = (result: Completed["result"]): string => {
  switch (result._tag) {
    case "Names":
      return `${result.names.length} names: ${result.names.slice(0, 4).join(", ")}, ...`
    case "Label":
      return result.label
    case "Failed":
      return `failed: ${result.error.message}`
  }
}

export const program: Effect.Effect<
  { readonly completed: ReadonlyArray<Completed>; readonly elapsedMs: number },
  never,
  Generator.Generator
> = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  yield* Console.log(`${tasks.length} tasks started at once`)
  const completed = yield* Stream.fromIterable(tasks).pipe(
    Stream.mapEffect(
      (task) =>
        Effect.gen(function*() {
          const [took, result] = yield* Effect.timed(task.run)
          const done: Completed = {
            task: task.name,
            result,
            tookMs: Duration.toMillis(took),
            doneAtMs: (yield* Clock.currentTimeMillis) - start
          }
          yield* Console.log(`[${seconds(done.doneAtMs)}] ${task.name} -> ${describe(result)}  (${task.subject})`)
          return done
        }),
      { concurrency: tasks.length, unordered: true }
    ),
    Stream.runCollect
  )
  const elapsedMs = (yield* Clock.currentTimeMillis) - start
  const names = completed.flatMap((c) => c.result._tag === "Names" ? c.result.names : [])
  const labels = completed.flatMap((c) => c.result._tag === "Label" ? [c.result.label] : [])
  const failed = completed.filter((c) => c.result._tag === "Failed").length
  const spam = labels.filter((label) => label === "spam").length
  yield* Console.log("")
  yield* Console.log(`Names: ${names.join(", ")}`)
  yield* Console.log(
    `${completed.length} tasks in ${seconds(elapsedMs)} (${
      seconds(completed.reduce((sum, c) => sum + c.tookMs, 0))
    } one after another): ` +
      `${names.length} names; ${spam} spam, ${labels.length - spam} not spam; ${failed} failed`
  )
  return { completed, elapsedMs }
})

const names = [
  "Oliver Bennett",
  "Amelia Hughes",
  "Harry Collins",
  "Isla Foster",
  "George Mitchell",
  "Ava Turner",
  "Jack Robinson",
  "Emily Carter",
  "Thomas Wright",
  "Sophie Walker",
  "William Harris",
  "Grace Thompson",
  "James Cooper",
  "Lily Edwards",
  "Henry Morgan",
  "Chloe Baker",
  "Samuel Price",
  "Ella Richardson",
  "Daniel Shaw",
  "Freya Lawson"
]

/** How a model might judge each message, and how long it takes: a long list of names takes longest. */
export const scripted: Readonly<Record<string, { readonly label: SpamLabel; readonly delayMs: number }>> = {
  m1: { label: "spam", delayMs: 700 },
  m2: { label: "not spam", delayMs: 250 },
  m3: { label: "spam", delayMs: 900 },
  m4: { label: "spam", delayMs: 500 },
  m5: { label: "not spam", delayMs: 350 }
}

export const extractDelayMs = 1200

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.layer((request) => {
  const sent = request._tag === "chat" ? request.messages : []
  const system = sent.find((m) => m.role === "system")?.text ?? ""
  const text = sent.find((m) => m.role === "user")?.text ?? ""
  const message = messages.find((m) => m.text === text)
  const reply = message !== undefined && system.includes("Classify the text")
    ? { value: scripted[message.id]!.label, delayMs: scripted[message.id]!.delayMs }
    : { value: names, delayMs: extractDelayMs }
  return Effect.as(Effect.sleep(Duration.millis(reply.delayMs)), JSON.stringify({ value: reply.value }))
}, { identifier: "mock!sibila" })

runMain(import.meta, program, mock)
