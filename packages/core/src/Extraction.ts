/**
 * Typed extraction and classification (sibila's `extract` and `classify`): ask the generator in context for a
 * value of a Schema, using native structured output where the provider has it (OpenAI `json_schema`,
 * Anthropic a forced tool call), and asking again when the answer does not decode.
 *
 * Running many at once is ordinary Effect: `Effect.all(tasks, { concurrency })`, or
 * `Stream.mapEffect(..., { unordered: true })` to see each result as it completes.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import type * as Chat from "./Chat.js"
import * as ChatPipeline from "./ChatPipeline.js"
import type { GenerationError } from "./GenerationError.js"
import type { Generator } from "./internal/generator.js"
import * as Message from "./Message.js"
import * as Model from "./Model.js"
import type { ExhaustedMaxRounds } from "./PipelineError.js"

/**
 * Options of {@link extract} and {@link classify}.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Extraction, Generator } from "@capstan/core"
 *
 * const options: Extraction.Options = { instructions: "Dates only, as YYYY-MM-DD.", maxRounds: 2 }
 * const dates = Extraction.extract(Schema.Array(Schema.String), "We met on 3 May 2024.", options).pipe(
 *   Effect.provide(Generator.layer("openai!gpt-4o-mini"))
 * )
 * ```
 * @since 0.1.0
 */
export interface Options {
  /** What to extract, in words; added to the system message. */
  readonly instructions?: string | undefined
  /** Generations tried in all when the answer does not decode. Default 3. */
  readonly maxRounds?: number | undefined
}

const systemPrompt = (model: Model.Model<unknown>, instructions: string | undefined): string =>
  [
    "You extract information from the text the user gives you.",
    ...(instructions === undefined ? [] : [instructions]),
    `Answer with a JSON object {"value": ...} whose value is the answer.`,
    model.instructions
  ].join("\n")

/**
 * Like {@link extract}, with the chat it took: its usage (recovery rounds included), attempts and timing, for
 * totals and cost.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Extraction, Generator } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const { value, chat } = yield* Extraction.extractWithChat(Schema.Array(Schema.String), "Ada met Grace.")
 *   return [value, chat.usage.totalTokens]
 * }).pipe(Effect.provide(Generator.layer("openai!gpt-4o-mini")))
 * ```
 * @since 0.1.0
 */
export const extractWithChat = <A, I>(
  schema: Schema.Codec<A, I>,
  text: string,
  options: Options = {}
): Effect.Effect<
  { readonly value: A; readonly chat: Chat.Chat<{ readonly value: A }> },
  GenerationError | ExhaustedMaxRounds,
  Generator
> => {
  const model = Model.json(Schema.Struct({ value: schema }), { name: "extraction" })
  return ChatPipeline.make([Message.system(systemPrompt(model, options.instructions)), Message.user(text)]).pipe(
    ChatPipeline.untilParsedAs(model, { maxRounds: options.maxRounds ?? 3 }),
    ChatPipeline.run(),
    Effect.map((chat) => ({ value: chat.parsed.value, chat })),
    Effect.withSpan("capstan.extract")
  )
}

/**
 * Extracts a value of `schema` from `text`. The schema is wrapped as `{ value }` (so any schema, a string or
 * a list included, becomes a JSON object, as strict structured output needs).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Extraction, Generator } from "@capstan/core"
 *
 * const names = Extraction.extract(Schema.Array(Schema.String), "Ada met Grace and Alan.", {
 *   instructions: "List every person's name."
 * }).pipe(Effect.provide(Generator.layer("openai!gpt-4o-mini")))
 * ```
 * @since 0.1.0
 */
export const extract = <A, I>(
  schema: Schema.Codec<A, I>,
  text: string,
  options: Options = {}
): Effect.Effect<A, GenerationError | ExhaustedMaxRounds, Generator> =>
  Effect.map(extractWithChat(schema, text, options), ({ value }) => value)

/**
 * Classifies `text` as exactly one of `labels`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Extraction, Generator } from "@capstan/core"
 *
 * const label = Extraction.classify(["spam", "not spam"], "WIN A FREE CRUISE!!!").pipe(
 *   Effect.provide(Generator.layer("openai!gpt-4o-mini"))
 * ) // Effect<"spam" | "not spam", ...>
 * ```
 * @since 0.1.0
 */
export const classify = <const L extends string>(
  labels: readonly [L, ...ReadonlyArray<L>],
  text: string,
  options: Options = {}
): Effect.Effect<L, GenerationError | ExhaustedMaxRounds, Generator> =>
  extract(Schema.Literals(labels), text, {
    ...options,
    instructions: [
      `Classify the text as exactly one of: ${labels.map((l) => JSON.stringify(l)).join(", ")}.`,
      options.instructions
    ]
      .filter((line) => line !== undefined)
      .join("\n")
  })
