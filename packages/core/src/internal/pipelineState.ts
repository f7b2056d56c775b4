/**
 * What a pipeline is, for both kinds: its steps, params, metadata, bound generator, wrappers and tools, as an
 * immutable, pipeable value, with the constructors and the option checks the public modules share. How a pipeline
 * runs an item is in `pipeline.ts`.
 *
 * @internal
 */
import type { Effect, Schema } from "effect"
import { Inspectable, Pipeable } from "effect"
import type * as Chat from "../Chat.js"
import { InvalidParams } from "../ConfigError.js"
import * as GenerateParams from "../GenerateParams.js"
import type { Generation, ToolChoice, ToolDefinition } from "../Generation.js"
import type { GenerationError } from "../GenerationError.js"
import type * as Message from "../Message.js"
import type * as Model from "../Model.js"
import type * as Generator from "./generator.js"
import type * as Cache from "./responseCache.js"

export type Kind = "chat" | "completion"

export type OnFailed = "fail" | "skip" | "include"

export const TypeId = "~@capstan/core/Pipeline" as const

/** The default nesting limit of `andThen` callbacks that continue their chat. */
export const defaultMaxDepth = 20

/** The default number of generations a parse step tries. */
export const defaultMaxRounds = 5

// The runtime form erases a pipeline's error and service types; the public `Pipeline` type carries them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any

export type Step =
  | {
    readonly _tag: "AndThen"
    readonly f: (chat: Chat.Chat) => Effect.Effect<unknown, Any, Any>
    readonly maxDepth: number
  }
  | {
    readonly _tag: "Map"
    readonly f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, Any, Any>
  }
  | {
    readonly _tag: "Parse"
    readonly model: Model.Model<unknown>
    readonly maxRounds: number
    readonly attemptRecovery: boolean
    readonly dropDialog: boolean
  }

/**
 * The tools a chat pipeline uses (`ChatPipeline.using`): the definitions its requests carry, the tool choice of each
 * answer's first generation, and the loop (`toolLoop.ts`) that runs the calls of an answer until one calls none.
 * `ask` generates the next answer of a chat (its messages, then everything generated so far).
 */
export interface ToolSetup {
  readonly definitions: ReadonlyArray<ToolDefinition>
  readonly toolChoice: ToolChoice | undefined
  /** The loop's own settings (its toolkits and options), opaque to the engine. */
  readonly settings: ReadonlyArray<unknown>
  readonly loop: (
    chat: Chat.Chat,
    ask: (chat: Chat.Chat) => Effect.Effect<Chat.Chat, Failure, Any>
  ) => Effect.Effect<Chat.Chat, Failure, Any>
}

export type Wrap = (generation: Effect.Effect<Generation, GenerationError>) => Effect.Effect<Generation, Any, Any>

export interface State {
  readonly kind: Kind
  readonly messages: ReadonlyArray<Message.Message>
  readonly params: GenerateParams.GenerateParams
  readonly metadata: Readonly<Record<string, Schema.Json>>
  readonly steps: ReadonlyArray<Step>
  readonly wraps: ReadonlyArray<Wrap>
  readonly generator: Generator.Service | undefined
  /**
   * Whether generations read and write the response cache in context. Unset is off, except for a pipeline an
   * `andThen` step continues with, which uses the cache of the pipeline it continues.
   */
  readonly cache: Cache.Mode | undefined
  /** The tools of a chat pipeline, if it uses any. */
  readonly tools?: ToolSetup | undefined
}

const variance = { _K: (_: never) => _, _A: (_: never) => _, _E: (_: never) => _, _R: (_: never) => _ }

/** A pipeline value: immutable state plus `pipe` and inspection. */
export interface Pipeline extends State {}
export class Pipeline implements Pipeable.Pipeable, Inspectable.Inspectable {
  readonly [TypeId] = variance
  constructor(state: State) {
    Object.assign(this, state)
  }
  /** The prompt of a completion pipeline: its messages' text, concatenated. */
  get prompt(): string {
    return promptOf(this.messages)
  }
  pipe() {
    return Pipeable.pipeArguments(this, arguments)
  }
  toJSON(): unknown {
    return {
      _id: this.kind === "chat" ? "ChatPipeline" : "CompletionPipeline",
      messages: this.messages.map((m) => m.toString()),
      params: this.params,
      metadata: this.metadata,
      steps: this.steps.map((s) => s._tag),
      wraps: this.wraps.length,
      generator: this.generator === undefined ? undefined : String(this.generator.identifier)
    }
  }
  toString(): string {
    return Inspectable.toStringUnknown(this.toJSON(), 2)
  }
  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}

export const isPipeline = (u: unknown): u is Pipeline => u instanceof Pipeline

export const make = (kind: Kind, messages: ReadonlyArray<Message.Message>): Pipeline =>
  new Pipeline({
    kind,
    messages,
    params: GenerateParams.empty,
    metadata: {},
    steps: [],
    wraps: [],
    generator: undefined,
    cache: undefined
  })

export const update = (self: Pipeline, patch: Partial<State>): Pipeline => new Pipeline({ ...self, ...patch })

export const addStep = (self: Pipeline, step: Step): Pipeline => update(self, { steps: [...self.steps, step] })

/** A new pipeline that reproduces a chat's request: its params, metadata, and the given messages. */
export const fromChat = (kind: Kind, chat: Chat.Chat, messages: ReadonlyArray<Message.Message>): Pipeline =>
  update(make(kind, messages), { params: chat.params, metadata: chat.metadata })

export const promptOf = (messages: ReadonlyArray<Message.Message>): string => messages.map((m) => m.text).join("")

/** Throws when an option cannot work: a pipeline's options are checked when it is built, not when it runs. */
export const requireWhole = (what: string, value: number, minimum: number): void => {
  if (!(Number.isInteger(value) && value >= minimum)) {
    throw new InvalidParams({ reason: `${what} must be an integer >= ${minimum}, got ${value}` })
  }
}

/** An item failed: `error` is the typed error as raised, `chat` the chat as it stood, recording it. */
export class Failure {
  constructor(readonly error: unknown, readonly chat: Chat.Chat) {}
}
