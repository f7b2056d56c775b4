/**
 * OpenAI's log probabilities: how a request asks for them (chat's `logprobs` and `top_logprobs`, legacy
 * completions' one `logprobs` count) and how an answer carries them (chat's `logprobs.content`, completions'
 * parallel arrays), read into core's `TokenLogprob`.
 *
 * @internal
 */
import { type GenerateParams, Generation } from "@capstan/core"
import { Schema } from "effect"
import { nullish, trusted } from "./wire.js"

/** The request fields of a chat completion: `topLogprobs` implies `logprobs`. */
export const chatRequest = (params: GenerateParams.GenerateParams) =>
  params.logprobs === true || params.topLogprobs !== undefined
    ? { logprobs: true, ...(params.topLogprobs === undefined ? {} : { top_logprobs: params.topLogprobs }) }
    : {}

/** The request field of a legacy completion: the number of alternatives, 0 for the chosen tokens alone. */
export const completionRequest = (params: GenerateParams.GenerateParams) =>
  params.logprobs === true || params.topLogprobs !== undefined ? { logprobs: params.topLogprobs ?? 0 } : {}

const Alternative = Schema.Struct({ token: Schema.String, logprob: Schema.Finite })

/** A chat choice's `logprobs`. */
export const ChatWire = nullish(Schema.Struct({
  content: nullish(Schema.Array(Schema.Struct({
    token: Schema.String,
    logprob: Schema.Finite,
    top_logprobs: nullish(Schema.Array(Alternative))
  })))
}))

/** A completion choice's `logprobs`: tokens, their log probabilities and a map of alternatives per position. */
export const CompletionWire = nullish(Schema.Struct({
  tokens: nullish(Schema.Array(Schema.String)),
  token_logprobs: nullish(Schema.Array(Schema.NullOr(Schema.Finite))),
  top_logprobs: nullish(Schema.Array(Schema.NullOr(Schema.Record(Schema.String, Schema.Finite))))
}))

const alternatives = (
  top: ReadonlyArray<{ readonly token: string; readonly logprob: number }> | null | undefined
): { readonly top?: ReadonlyArray<Generation.TokenAlternative> } =>
  top === undefined || top === null || top.length === 0
    ? {}
    : { top: top.map((t) => new Generation.TokenAlternative({ token: t.token, logprob: t.logprob }, trusted)) }

/** The tokens of a chat choice, or undefined when the answer has none. */
export const fromChat = (
  wire: typeof ChatWire.Type
): ReadonlyArray<Generation.TokenLogprob> | undefined =>
  wire?.content === undefined || wire.content === null
    ? undefined
    : wire.content.map((t) =>
      new Generation.TokenLogprob({ token: t.token, logprob: t.logprob, ...alternatives(t.top_logprobs) }, trusted)
    )

/** The tokens of a completion choice (a position without a log probability is left out), or undefined. */
export const fromCompletion = (
  wire: typeof CompletionWire.Type
): ReadonlyArray<Generation.TokenLogprob> | undefined => {
  const tokens = wire?.tokens
  if (tokens === undefined || tokens === null) return undefined
  const out: Array<Generation.TokenLogprob> = []
  tokens.forEach((token, i) => {
    const logprob = wire?.token_logprobs?.[i]
    if (logprob === undefined || logprob === null) return
    const top = wire?.top_logprobs?.[i]
    const listed = top === undefined || top === null
      ? undefined
      : Object.entries(top).map(([alternative, p]) => ({ token: alternative, logprob: p }))
    out.push(new Generation.TokenLogprob({ token, logprob, ...alternatives(listed) }, trusted))
  })
  return out
}
