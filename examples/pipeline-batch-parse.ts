/**
 * A batch of four prompts, each answer parsed as a comma-separated list. An answer without the tags gets the
 * parse error sent back and another try; the ones that never parse are skipped.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-batch-parse.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { type BatchSizeMismatch, ChatPipeline, type Generator, Model } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

export const topics = ["authors", "painters", "musicians", "hackers"]

// Skipping failures, the batch can only fail for its shape; each chat's `parsed` is the model's list.
export const program: Effect.Effect<ReadonlyArray<ReadonlyArray<string>>, BatchSizeMismatch, Generator.Generator> =
  Effect.gen(function*() {
    const pipeline = ChatPipeline.make({ role: "system", content: Model.CommaDelimitedAnswer.instructions }).pipe(
      ChatPipeline.untilParsedAs(Model.CommaDelimitedAnswer, { attemptRecovery: true, maxRounds: 3 })
    )
    const many = topics.map((thing) => `Give me 3 famous ${thing}`)
    const chats = yield* pipeline.pipe(ChatPipeline.runBatch(many, { onFailed: "skip" }))
    const lists: Array<ReadonlyArray<string>> = []
    for (const [i, chat] of chats.entries()) {
      const items = chat.parsed
      lists.push(items)
      yield* Console.log(`--- Chat ${i + 1} (${chat.all.length} messages, ${chat.usage.totalTokens} tokens) ---`)
      yield* Console.log(items)
      yield* Console.log("")
    }
    yield* Console.log(`${chats.length} of ${many.length} answers parsed; the others were skipped.`)
    return lists
  })

const answers: Record<string, string> = {
  painters: "Leonardo da Vinci, Vincent van Gogh, Pablo Picasso",
  musicians: "Michael Jackson, Beyonce, The Beatles"
}

// Painters answer in tags at once; musicians forget the tags once; authors and hackers never use them.
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.layer((request) => {
  const messages = request._tag === "chat" ? request.messages : []
  const topic = topics.find((t) => messages[1]?.text.endsWith(t)) ?? ""
  const recovering = messages.length > 2
  const answer = answers[topic]
  if (answer === undefined) return "I'd rather not say."
  return topic === "musicians" && !recovering ? answer : `<comma-delimited-answer>${answer}</comma-delimited-answer>`
}, { identifier: "mock!lists" })

runMain(import.meta, program, mock)
