import { Generator, Identifier } from "@capstan/core"
import { Anthropic, HttpTransport, OpenAI, Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { chatRequest, eventually } from "./harness.js"
import { serve, withBody } from "./loopback.js"

/** A loopback server answering chat completions and messages with "ok", closed with the scope. */
const apiServer = Effect.acquireRelease(
  Effect.promise(() =>
    serve(withBody((request, _, response) => {
      const answer = request.url?.endsWith("/messages")
        ? {
          content: [{ type: "text", text: "ok" }],
          stop_reason: "end_turn",
          usage: { input_tokens: 1, output_tokens: 1 }
        }
        : {
          choices: [{ index: 0, message: { content: "ok" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 1, completion_tokens: 1 }
        }
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer))
    }))
  ),
  (server) => Effect.promise(server.close)
)

const apiKey = Redacted.make("sk-test-0123456789")

describe("the transport's scope", () => {
  it.live("generators under one Providers.layer share one connection, closed when the layer's scope closes", () =>
    Effect.gen(function*() {
      const server = yield* apiServer
      yield* Effect.gen(function*() {
        const a = yield* Generator.make(`openai!model-a,base_url=${server.url}/v1,api_key=sk-a-0123456789`)
        const b = yield* Generator.make(`openai!model-b,base_url=${server.url}/v1,api_key=sk-b-0123456789`)
        const c = yield* Generator.make(`anthropic!claude-c,base_url=${server.url},api_key=sk-c-0123456789`)
        for (const generator of [a, b, c, a]) {
          assert.strictEqual((yield* generator.generate(chatRequest("hi"))).choices[0]?.text, "ok")
        }
        assert.strictEqual(server.connections(), 1)
        assert.strictEqual(server.closed(), 0) // kept alive while the layer is open
      }).pipe(Effect.scoped, Effect.provide(Providers.layer))
      yield* eventually(() => server.closed() === 1)
    }))

  it.live("a generator made where no transport is provided makes its own, closed with the generator's scope", () =>
    Effect.gen(function*() {
      const server = yield* apiServer
      const make = (model: string) =>
        OpenAI.makeGenerator(Identifier.make({ provider: "openai", model }), { apiKey, baseURL: `${server.url}/v1` })
      yield* Effect.gen(function*() {
        const a = yield* make("a")
        const b = yield* make("b")
        yield* a.generate(chatRequest("one"))
        yield* b.generate(chatRequest("two"))
        assert.strictEqual(server.connections(), 2) // one transport each
      }).pipe(Effect.scoped)
      yield* eventually(() => server.closed() === 2)
    }))

  it.live("HttpTransport.layer shares one transport among generators made directly", () =>
    Effect.gen(function*() {
      const server = yield* apiServer
      yield* Effect.gen(function*() {
        const a = yield* OpenAI.makeGenerator(Identifier.make({ provider: "openai", model: "a" }), {
          apiKey,
          baseURL: `${server.url}/v1`
        })
        const b = yield* Anthropic.makeGenerator(Identifier.make({ provider: "anthropic", model: "b" }), {
          apiKey,
          baseURL: server.url
        })
        yield* a.generate(chatRequest("one"))
        yield* b.generate(chatRequest("two"))
        assert.strictEqual(server.connections(), 1)
      }).pipe(Effect.scoped, Effect.provide(HttpTransport.layer()))
      yield* eventually(() => server.closed() === 1)
    }))

  it.live("a generator made under Providers.layer holds its transport past the layer's scope, until its own closes", () =>
    Effect.gen(function*() {
      const server = yield* apiServer
      yield* Effect.gen(function*() {
        const generator = yield* Generator.make(`openai!m,base_url=${server.url}/v1,api_key=sk-a-0123456789`).pipe(
          Effect.provide(Providers.layer) // the layer's own scope ends here; the generator's goes on
        )
        assert.strictEqual((yield* generator.generate(chatRequest("late"))).choices[0]?.text, "ok")
        assert.strictEqual((yield* generator.generate(chatRequest("again"))).choices[0]?.text, "ok")
        assert.strictEqual(server.connections(), 1)
        assert.strictEqual(server.closed(), 0)
      }).pipe(Effect.scoped)
      yield* eventually(() => server.closed() === 1)
    }))

  it.live("sends every request of the OpenAI and Anthropic generators through the fetch it is given", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const urls: Array<string> = []
      const recording: HttpTransport.Fetch = (input, init) => {
        urls.push(input instanceof Request ? input.url : input.toString())
        return globalThis.fetch(input, init)
      }
      const openai = yield* OpenAI.makeGenerator(Identifier.make({ provider: "openai", model: "gpt-4o-mini" }), {
        apiKey,
        baseURL: server.openaiBaseUrl,
        fetch: recording
      })
      const anthropic = yield* Anthropic.makeGenerator(Identifier.make({ provider: "anthropic", model: "claude-x" }), {
        apiKey,
        baseURL: server.anthropicBaseUrl,
        fetch: recording
      })
      const a = yield* openai.generate(chatRequest("one"))
      const b = yield* anthropic.generate(chatRequest("two"))
      assert.strictEqual(a.choices[0]?.text, "echo: one")
      assert.strictEqual(b.choices[0]?.text, "echo: two")
      assert.deepStrictEqual(urls.map((url) => new URL(url).pathname), ["/v1/chat/completions", "/v1/messages"])
      assert.strictEqual(server.requests.length, 2)
    }))
})

describe("what the transport refuses, as generation errors", () => {
  it.live("an answer over the limit is InvalidRequest (not retried: the answer would be as large), after one request", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const long = "w".repeat(4096) // echoed back
      for (
        const identifier of [
          `openai!m,base_url=${server.openaiBaseUrl}`,
          `anthropic!claude-m,base_url=${server.anthropicBaseUrl}`
        ]
      ) {
        server.reset()
        const error = yield* Effect.flip(
          Generator.chat(long).pipe(
            Effect.provide(
              Generator.layer(`${identifier},api_key=sk-test-0123456789`, { maxRetries: 3 }).pipe(
                Layer.provide(Providers.layerWith({ maxBodyBytes: 2048 }))
              )
            )
          )
        )
        assert.strictEqual(error._tag, "InvalidRequest", error.message)
        assert.isFalse((error as { retryable: boolean }).retryable)
        assert.match(error.message, /its body is larger than 2048 bytes.*raise maxBodyBytes/)
        assert.strictEqual(server.stats.requests, 1)
      }
      // Within the default limits the same call succeeds.
      const chat = yield* Generator.chat(long).pipe(
        Effect.provide(
          Generator.layer(`openai!m,base_url=${server.openaiBaseUrl},api_key=sk-test-0123456789`).pipe(
            Layer.provide(Providers.layer)
          )
        )
      )
      assert.strictEqual(chat.last?.text, `echo: ${long}`)
    }))

  it.live("a 307 to the same origin is followed; a 301 for the POST is InvalidRequest naming the new address", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() =>
          serve(withBody((request, _, response) => {
            if (request.url === "/old/chat/completions") {
              return void response.writeHead(307, { location: "/v1/chat/completions" }).end()
            }
            if (request.url === "/moved/chat/completions") {
              return void response.writeHead(301, { location: "/v1/chat/completions" }).end()
            }
            response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
              choices: [{ index: 0, message: { content: "ok" }, finish_reason: "stop" }]
            }))
          }))
        ),
        (server) => Effect.promise(server.close)
      )
      const generator = (path: string) =>
        OpenAI.makeGenerator(Identifier.make({ provider: "openai", model: "m" }), {
          apiKey,
          baseURL: `${server.url}${path}`
        })
      const followed = yield* (yield* generator("/old")).generate(chatRequest("hi"))
      assert.strictEqual(followed.choices[0]?.text, "ok")
      const error = yield* Effect.flip((yield* generator("/moved")).generate(chatRequest("hi")))
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.match(
        error.message,
        /answered 301, redirecting to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions.*Set base_url/
      )
    }))
})
