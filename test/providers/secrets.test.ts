import { Chat, GenerationError, Generator, Identifier } from "@capstan/core"
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { Cause, Effect, Exit, Schema } from "effect"
import { FakeProvider, type FakeRequest } from "../support/FakeProvider.js"
import { chatRequest, generatorFor } from "./harness.js"

// Not shaped like any provider's key, so only exact scrubbing can hide it.
const KEY = "my-own-secret-value-4242"

const echoKey = (request: FakeRequest) => {
  const sent = String(request.headers["x-api-key"] ?? request.headers["authorization"] ?? "").replace(/^Bearer /, "")
  return { error: { status: 401, message: `Incorrect API key provided: ${sent}. Also sk-proj-abc123def456.` } }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe("API keys", () => {
  it.effect("a missing key fails with MissingApiKey naming the variable to set", () =>
    Effect.gen(function*() {
      for (
        const [identifier, variable] of [
          ["openai!gpt-4o-mini", "OPENAI_API_KEY"],
          ["claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"]
        ] as const
      ) {
        const error = yield* Effect.flip(generatorFor(identifier, { [variable]: "  " }))
        assert.strictEqual(error._tag, "MissingApiKey")
        if (error._tag !== "MissingApiKey") return
        assert.strictEqual(error.variable, variable)
        assert.include(error.message, `set the ${variable} environment variable`)
      }
    }))

  it.live("the identifier's api_key wins over the environment", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor(`openai!gpt-4o-mini,api_key=${KEY}`, {
        OPENAI_API_KEY: "sk-from-env-000000",
        OPENAI_BASE_URL: server.openaiBaseUrl
      })
      yield* generator.generate(chatRequest("hi"))
      assert.strictEqual(server.requests[0]!.headers["authorization"], `Bearer ${KEY}`)
    }))

  for (
    const [provider, variables] of [
      ["openai", (url: string) => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${url}/v1` })],
      ["anthropic", (url: string) => ({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: url })]
    ] as const
  ) {
    it.live(`${provider}: no key in errors, identifiers, encoded chats or console output`, () =>
      Effect.gen(function*() {
        const printed: Array<string> = []
        for (const method of ["log", "info", "warn", "error", "debug"] as const) {
          vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
            printed.push(args.map(String).join(" "))
          })
        }
        const server = yield* FakeProvider.scoped()
        const model = provider === "openai" ? "gpt-4o-mini" : "claude-3-5-haiku-latest"
        const generator = yield* generatorFor(`${model},temperature=0`, variables(server.url))
        const chat = yield* Generator.chat("hello").pipe(Effect.provideService(Generator.Generator, generator))
        server.configure({ respond: echoKey })
        const exit = yield* Effect.exit(generator.generate(chatRequest("hi")))
        assert.isTrue(Exit.isFailure(exit))
        if (!Exit.isFailure(exit)) return
        const error = Cause.findErrorOption(exit.cause)
        assert.strictEqual(error._tag, "Some")
        if (error._tag !== "Some") return
        assert.strictEqual(error.value._tag, "AuthenticationError")
        // The server really did echo the key; the error must not.
        assert.strictEqual(server.requests.length, 2)

        const failedChat = new Chat.Chat({ ...chat, error: error.value })
        const texts = [
          error.value.message,
          String(error.value),
          JSON.stringify(Schema.encodeSync(GenerationError)(error.value)),
          Cause.pretty(exit.cause),
          Identifier.format(generator.identifier),
          String(generator.identifier),
          JSON.stringify(Chat.encodeSync(chat)),
          JSON.stringify(Chat.encodeSync(failedChat)),
          ...printed
        ]
        for (const text of texts) {
          assert.notInclude(text, KEY)
          assert.notInclude(text, "abc123def456")
        }
        assert.include(error.value.message, "Incorrect API key provided: ***")
      }))
  }

  for (const [provider, model] of [["openai", "gpt-4o-mini"], ["anthropic", "claude-3-5-haiku-latest"]] as const) {
    it.live(`${provider}: a base URL's credentials are used, and never printed, stored or echoed in errors`, () =>
      Effect.gen(function*() {
        const password = "proxy-pass-6013"
        const server = yield* FakeProvider.scoped()
        const root = provider === "openai" ? server.openaiBaseUrl : server.anthropicBaseUrl
        const url = root.replace("http://", `http://capstan:${password}@`)
        const generator = yield* generatorFor(`${provider}!${model},base_url=${url},api_key=${KEY}`)
        const chat = yield* Generator.chat("hello").pipe(Effect.provideService(Generator.Generator, generator))
        assert.strictEqual(chat.last?.text, "echo: hello")
        // A proxy that quotes the credentials it was given, inside and outside a URL.
        server.configure({
          respond: () => ({ error: { status: 502, message: `bad credentials capstan:${password} for ${url}` } })
        })
        const error = yield* Effect.flip(generator.generate(chatRequest("hi")))
        const texts = [
          error.message,
          JSON.stringify(Schema.encodeSync(GenerationError)(error)),
          Identifier.format(generator.identifier),
          String(generator.identifier),
          JSON.stringify(generator.identifier),
          JSON.stringify(Chat.encodeSync(chat))
        ]
        for (const text of texts) assert.notInclude(text, password)
        assert.include(Identifier.format(generator.identifier), "base_url=http://***@127.0.0.1")
      }))
  }

  it.effect("a key given in the identifier prints as ***", () =>
    Effect.gen(function*() {
      const generator = yield* generatorFor(`openai!gpt-4o-mini,api_key=${KEY}`)
      assert.strictEqual(Identifier.format(generator.identifier), "openai!gpt-4o-mini,api_key=***")
    }))
})
