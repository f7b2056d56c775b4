import {
  Batch,
  ChatPipeline,
  Dataset,
  GenerateParams,
  Generation,
  Generator,
  GeneratorRegistry,
  Identifier,
  Message,
  Model,
  Template,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { generatorFor } from "./harness.js"

const env = (baseUrl: string) => ({ OPENAI_API_KEY: "sk-test-openai-0123456789", OPENAI_BASE_URL: baseUrl })

const ask = (params: GenerateParams.Fields) => ({
  messages: [Message.user("is this good?")],
  params: GenerateParams.make(params)
})

describe("log probabilities", () => {
  it.live("openai chat: logprobs and top_logprobs are sent, and each choice carries its tokens", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => "Yes it is" })
      const generator = yield* generatorFor("openai!gpt-4o-mini", env(server.openaiBaseUrl))
      const generation = yield* generator.generate(ask({ logprobs: true, topLogprobs: 2, n: 2 }))
      const body = server.requests[0]!.body as Record<string, unknown>
      assert.strictEqual(body["logprobs"], true)
      assert.strictEqual(body["top_logprobs"], 2)
      assert.strictEqual(generation.choices.length, 2)
      for (const choice of generation.choices) {
        const tokens = choice.logprobs ?? []
        assert.strictEqual(tokens.map((t) => t.token).join(""), "Yes it is")
        for (const token of tokens) {
          assert.isBelow(token.logprob, 0)
          assert.strictEqual(token.top?.length, 2)
          assert.strictEqual(token.top?.[0]?.token, token.token)
        }
      }
    }))

  it.live("openai chat: topLogprobs alone implies logprobs; nothing asked, nothing sent or returned", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => "Yes" })
      const generator = yield* generatorFor("openai!gpt-4o-mini", env(server.openaiBaseUrl))
      const implied = yield* generator.generate(ask({ topLogprobs: 0 }))
      assert.deepStrictEqual(server.requests[0]!.body, {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "is this good?" }],
        logprobs: true,
        top_logprobs: 0
      })
      assert.deepStrictEqual(implied.choices[0]?.logprobs?.map((t) => [t.token, t.top]), [["Yes", undefined]])
      const plain = yield* generator.generate(ask({}))
      const body = server.requests[1]!.body as Record<string, unknown>
      assert.isFalse("logprobs" in body || "top_logprobs" in body)
      assert.strictEqual(plain.choices[0]?.logprobs, undefined)
    }))

  it.live("chats carry their last answer's log probabilities: pipelines and Generator.chat", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => "Sure thing" })
      const generator = yield* generatorFor("openai!gpt-4o-mini", env(server.openaiBaseUrl))
      const chat = yield* ChatPipeline.make("hi").pipe(
        ChatPipeline.withParams({ logprobs: true }),
        ChatPipeline.run(),
        Effect.provideService(Generator.Generator, generator)
      )
      assert.deepStrictEqual(chat.logprobs?.map((t) => t.token), ["Sure", " thing"])
      // a follow-up that does not ask for them answers none: the first answer's are not kept as if they were its own
      const next = yield* ChatPipeline.continue(chat, "again").pipe(
        ChatPipeline.withParams({ logprobs: false }),
        ChatPipeline.run(),
        Effect.provideService(Generator.Generator, generator)
      )
      assert.strictEqual(next.logprobs, undefined)
      const direct = yield* Generator.chat("hi", { topLogprobs: 1 }).pipe(
        Effect.provideService(Generator.Generator, generator)
      )
      assert.deepStrictEqual(direct.logprobs?.map((t) => t.top?.length), [1, 1])
    }))

  it.effect("a recovery round's answer replaces the log probabilities of the answer it recovers from", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("a number?").pipe(
        ChatPipeline.withParams({ logprobs: true }),
        ChatPipeline.untilParsedAs(Model.json(Schema.Struct({ n: Schema.Int }))),
        ChatPipeline.run()
      )
      assert.deepStrictEqual(chat.parsed, { n: 1 })
      assert.strictEqual(chat.logprobs, undefined) // the first, unparsed answer's are gone
    }).pipe(Effect.provide(MockGenerator.layer((request) =>
      request.call === 1
        ? new Generation.Generation({
          choices: [
            new Generation.Choice({
              text: "one",
              stopReason: "stop",
              logprobs: [new Generation.TokenLogprob({ token: "one", logprob: -0.1 })]
            })
          ],
          usage: Usage.empty
        })
        : "{\"n\": 1}"
    ))))

  it.live("openai chat: top_logprobs without logprobs is refused by the API (here through providerOptions)", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("openai!gpt-4o-mini", env(server.openaiBaseUrl))
      const error = yield* Effect.flip(generator.generate(ask({ providerOptions: { openai: { top_logprobs: 3 } } })))
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.include(error.message, "'logprobs' must be set to true")
    }))

  it.live("openai completions: one logprobs count, answered as parallel arrays and read into tokens", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => "Paris is lovely" })
      const generator = yield* generatorFor("openai!gpt-3.5-turbo-instruct", env(server.openaiBaseUrl))
      const generation = yield* generator.complete!({
        prompt: "The capital of France:",
        params: GenerateParams.make({ topLogprobs: 3 })
      })
      const body = server.requests[0]!.body as Record<string, unknown>
      assert.strictEqual(body["logprobs"], 3)
      assert.isFalse("top_logprobs" in body)
      const tokens = generation.choices[0]?.logprobs ?? []
      assert.deepStrictEqual(tokens.map((t) => t.token), ["Paris", " is", " lovely"])
      assert.deepStrictEqual(tokens.map((t) => t.top?.length), [3, 3, 3])
    }))

  it.live("openai completions: a count the API refuses is InvalidRequest, after one request", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("openai!gpt-3.5-turbo-instruct", env(server.openaiBaseUrl))
      const error = yield* Effect.flip(generator.complete!({
        prompt: "x",
        params: GenerateParams.make({ topLogprobs: 10 })
      }))
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.include(error.message, "logprobs")
      assert.strictEqual(server.requests.length, 1)
    }))

  it.live("anthropic: not sent, and the generation says so in its warnings", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("anthropic!claude-3-5-haiku-latest", {
        ANTHROPIC_API_KEY: "sk-ant-test-0123456789",
        ANTHROPIC_BASE_URL: server.anthropicBaseUrl
      })
      const generation = yield* generator.generate(ask({ logprobs: true, topLogprobs: 3 }))
      const body = server.requests[0]!.body as Record<string, unknown>
      assert.isFalse("logprobs" in body || "top_logprobs" in body)
      assert.deepStrictEqual(generation.warnings, [
        "logprobs=true was not sent: the Anthropic Messages API has no logprobs",
        "top_logprobs=3 was not sent: the Anthropic Messages API has no top_logprobs"
      ])
      assert.strictEqual(generation.choices[0]?.logprobs, undefined)
    }))

  it.live("identifiers: logprobs=true,top_logprobs=5 parse, print back, and are range-checked", () =>
    Effect.gen(function*() {
      const id = yield* GeneratorRegistry.parse("openai!gpt-4o-mini,logprobs=true,top_logprobs=5")
      assert.strictEqual(id.params.logprobs, true)
      assert.strictEqual(id.params.topLogprobs, 5)
      assert.strictEqual(Identifier.format(id), "openai!gpt-4o-mini,logprobs=true,top_logprobs=5")
      const tooMany = yield* Effect.flip(GeneratorRegistry.parse("openai!gpt-4o-mini,top_logprobs=30"))
      assert.include(tooMany.message, "top_logprobs is out of range")
      const notBool = yield* Effect.flip(GeneratorRegistry.parse("openai!gpt-4o-mini,logprobs=yes"))
      assert.include(notBool.message, "logprobs expects true or false")
    }).pipe(Effect.provide(Providers.layer)))

  it.live("batch rows store the log probabilities of their output, and their JSON line keeps them", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => "positive" })
      const generator = yield* generatorFor("openai!gpt-4o-mini", env(server.openaiBaseUrl))
      const items = yield* Dataset.validate(Template.make("Sentiment of: {text}"), [{ text: "great" }])
      const { rows } = yield* Batch.run(items, { params: { topLogprobs: 2, n: 2 } }).pipe(
        Effect.provideService(Generator.Generator, generator)
      )
      assert.strictEqual(rows.length, 2)
      for (const row of rows) {
        assert.deepStrictEqual(row.logprobs?.map((t) => t.token), ["positive"])
        const back = yield* Batch.fromJsonLine(Batch.toJsonLine(row))
        assert.deepStrictEqual(back.logprobs, row.logprobs)
      }
    }))
})
