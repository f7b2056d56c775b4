// TEMPORARY stand-in for @capstan/core Batch until it lands. Delete when switching to the real module.
import { ChatError, GenerateParams, Generator, Message, Model, Template, Usage } from "@capstan/core"
import { Clock, Effect, Schema, Stream } from "effect"

export class Row extends Schema.Class<Row>("Row")({
  id: Schema.String,
  index: Schema.Int,
  choice: Schema.Int,
  template: Template.Source,
  vars: Schema.Record(Schema.String, Template.Value),
  messages: Schema.Array(Message.Message),
  generator: Schema.String,
  output: Schema.optionalKey(Schema.String),
  parsed: Schema.optionalKey(Schema.Json),
  error: Schema.optionalKey(ChatError),
  usage: Usage.Usage,
  attempts: Schema.Int,
  latencyMs: Schema.Finite
}) {}

export const stream = (
  items: Iterable<Template.RenderedItem>,
  options: { readonly concurrency?: number; readonly parse?: Model.Model<unknown> } = {}
): Stream.Stream<Row, never, Generator.Generator> =>
  Stream.fromIterable([...items].map((item, index) => ({ item, index }))).pipe(
    Stream.mapEffect(({ index, item }) =>
      Effect.gen(function*() {
        const generator = yield* Generator.Generator
        const started = yield* Clock.currentTimeMillis
        const base = { id: item.id, index, template: item.template, vars: item.vars, messages: item.messages, generator: String(generator.identifier), attempts: 1 }
        const result = yield* Effect.result(generator.generate({
          messages: item.messages,
          params: GenerateParams.empty,
          ...(options.parse?.structured === undefined ? {} : { structured: options.parse.structured })
        }))
        const latencyMs = (yield* Clock.currentTimeMillis) - started
        if (result._tag === "Failure") return [new Row({ ...base, choice: 0, error: result.failure, usage: Usage.empty, latencyMs })]
        const rows: Array<Row> = []
        for (const [choice, c] of result.success.choices.entries()) {
          const usage = choice === 0 ? result.success.usage : Usage.empty
          if (options.parse === undefined) rows.push(new Row({ ...base, choice, output: c.text, usage, latencyMs }))
          else {
            const parsed = yield* Effect.result(Model.parse(options.parse, c.text))
            rows.push(parsed._tag === "Success"
              ? new Row({ ...base, choice, output: c.text, parsed: parsed.success as Schema.Json, usage, latencyMs })
              : new Row({ ...base, choice, output: c.text, error: parsed.failure, usage, latencyMs }))
          }
        }
        return rows
      }), { concurrency: options.concurrency ?? 64, unordered: true }),
    Stream.flatMap((rows) => Stream.fromIterable(rows))
  )
