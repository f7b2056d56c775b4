/**
 * batch-prompt's yes/no probabilities: each review is asked one question answered with one token
 * (`maxTokens: 1`), with the five likeliest alternatives (`topLogprobs: 5`); the probability of "Yes" is read from
 * the row's `logprobs`, so the answer is a score, not just a label.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-logprobs.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model; Anthropic has no log probabilities
 * and says so in each row's warnings).
 */
import { Batch, Dataset, Generation, type Generator, Template, Usage } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

export const reviews = [
  { id: "r1", review: "Great coffee, I buy it every week." },
  { id: "r2", review: "Stale beans and a burnt taste." },
  { id: "r3", review: "Fine, I suppose. A bit bitter." }
]

export const template = Template.make(
  "Would the author of this review buy the coffee again? Answer Yes or No.\n\nReview: {review}"
)

/** The probability of a "Yes" (any case, any leading space) among the first token's alternatives. */
export const probabilityOfYes = (row: Batch.Row): number | undefined => {
  const first = row.logprobs?.[0]
  if (first === undefined) return undefined
  const alternatives = first.top ?? [first]
  return alternatives
    .filter((t) => t.token.trim().toLowerCase() === "yes")
    .reduce((sum, t) => sum + Math.exp(t.logprob), 0)
}

export const program: Effect.Effect<
  ReadonlyArray<{ readonly id: string; readonly yes: number | undefined }>,
  never,
  Generator.Generator
> = Effect.gen(function*() {
  // The reviews are the example's own: a mistake in them is a bug, not an input error.
  const items = yield* Effect.orDie(Dataset.validate(template, reviews))
  const { rows } = yield* Batch.run(items, { params: { maxTokens: 1, topLogprobs: 5, temperature: 0 } }).pipe(
    Effect.orDie
  )
  const scored = rows.map((row) => ({ id: row.id, yes: probabilityOfYes(row) }))
  for (const { id, yes } of scored) {
    yield* Console.log(`${id}  P(yes) = ${yes === undefined ? "unknown (no log probabilities)" : yes.toFixed(2)}`)
  }
  return scored
})

// Offline: a judge whose confidence follows a few words of the review, answered the way OpenAI answers.
const confidence = (text: string): number =>
  /great|love|every week/i.test(text) ? 0.95 : /stale|burnt|awful/i.test(text) ? 0.04 : 0.55

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn(
  (text) => {
    const yes = confidence(text)
    const token = (t: string, p: number) => new Generation.TokenAlternative({ token: t, logprob: Math.log(p) })
    const top = [token("Yes", yes), token("No", (1 - yes) * 0.9), token("yes", (1 - yes) * 0.05)]
      .sort((a, b) => b.logprob - a.logprob)
    const chosen = top[0]!
    return new Generation.Generation({
      choices: [
        new Generation.Choice({
          text: chosen.token,
          stopReason: "length",
          logprobs: [new Generation.TokenLogprob({ token: chosen.token, logprob: chosen.logprob, top })]
        })
      ],
      usage: new Usage.Usage({ inputTokens: MockGenerator.estimateTokens(text), outputTokens: 1 })
    })
  },
  { identifier: "mock!judge" }
)

runMain(import.meta, program, mock)
