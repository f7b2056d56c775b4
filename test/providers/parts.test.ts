/**
 * Content parts, tool calls, provider options and warnings, through the real SDKs against the fake server: each part
 * reaches the wire as the provider documents it, tool calls in answers come back as parts, what a provider cannot
 * take is refused before any request, each provider sends only its own options, and what was not sent is said.
 */
import {
  Batch,
  type Chat,
  CompletionPipeline,
  Dataset,
  GenerateParams,
  Generator,
  Message,
  Template
} from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { FakeProvider, type FakeRequest } from "../support/FakeProvider.js"
import { generatorFor } from "./harness.js"

const openai = (baseUrl: string, identifier = "openai!gpt-4o-mini") =>
  generatorFor(identifier, { OPENAI_API_KEY: "sk-test-openai-0123456789", OPENAI_BASE_URL: baseUrl })
const anthropic = (baseUrl: string) =>
  generatorFor("anthropic!claude-3-5-haiku-latest", {
    ANTHROPIC_API_KEY: "sk-ant-test-0123456789",
    ANTHROPIC_BASE_URL: baseUrl
  })

const text = (t: string) => new Message.TextPart({ text: t })
const imageUrl = new Message.ImagePart({ url: "https://example.test/cat.png" })
const imageBytes = Message.imageBytes(new Uint8Array([137, 80, 78, 71]), "image/png") // base64 "iVBORw=="
const call = new Message.ToolCallPart({ id: "call_1", name: "weather", input: { city: "Lyon" } })
const result = new Message.ToolResultPart({ id: "call_1", name: "weather", output: { celsius: 21 } })

/** Every kind of part, in the roles that take them. */
const conversation = [
  Message.system("Be terse."),
  Message.user([text("What is in these?"), imageUrl, imageBytes]),
  Message.assistant([text("Let me check."), call]),
  Message.tool([result]),
  Message.user("And the weather?")
]

const request = (messages: ReadonlyArray<Message.Message>, params: GenerateParams.Fields = {}) => ({
  messages,
  params: GenerateParams.make(params)
})

/** The body of the one request the server received. */
const bodyOf = (server: { readonly requests: ReadonlyArray<{ readonly body: unknown }> }) => {
  assert.strictEqual(server.requests.length, 1)
  return server.requests[0]!.body as Record<string, unknown>
}

/** The tool calls of a chat's answer. */
const callsOf = (chat: Chat.Chat<unknown>) =>
  chat.generated.at(-1)?.parts.filter((part): part is Message.ToolCallPart => part._tag === "ToolCall")

/** The weather tool, as the fake plays it: a call first, then an answer once the result is in. */
const weatherModel = (req: FakeRequest) =>
  req.messages.some((m) => m.toolResults.length > 0)
    ? `It is ${req.messages.flatMap((m) => m.toolResults).map((r) => r.content).join(", ")}`
    : { toolCalls: [{ name: "weather", input: { city: "Lyon" } }] }

describe("openai: content parts", () => {
  it.live("maps text, images (URL and bytes), tool calls and tool results to the chat wire format", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const generation = yield* generator.generate(request(conversation))
      assert.deepStrictEqual(bodyOf(server)["messages"], [
        { role: "system", content: "Be terse." },
        {
          role: "user",
          content: [
            { type: "text", text: "What is in these?" },
            { type: "image_url", image_url: { url: "https://example.test/cat.png" } },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw==" } }
          ]
        },
        {
          role: "assistant",
          content: "Let me check.",
          tool_calls: [{
            id: "call_1",
            type: "function",
            function: { name: "weather", arguments: "{\"city\":\"Lyon\"}" }
          }]
        },
        { role: "tool", tool_call_id: "call_1", content: "{\"celsius\":21}" },
        { role: "user", content: "And the weather?" }
      ])
      assert.strictEqual(generation.choices[0]!.text, "echo: And the weather?")
      assert.strictEqual(generation.warnings, undefined)
    }))

  it.live("sends tool results found in a user message as tool messages before the rest of it", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      yield* generator.generate(
        request([Message.user("Weather?"), Message.assistant([call]), Message.user([text("So?"), result])])
      )
      assert.deepStrictEqual((bodyOf(server)["messages"] as Array<unknown>).slice(1), [
        {
          role: "assistant",
          content: "",
          tool_calls: [{
            id: "call_1",
            type: "function",
            function: { name: "weather", arguments: "{\"city\":\"Lyon\"}" }
          }]
        },
        { role: "tool", tool_call_id: "call_1", content: "{\"celsius\":21}" },
        { role: "user", content: [{ type: "text", text: "So?" }] }
      ])
    }))

  it.live("decodes tool calls into Choice.toolCalls, and the chat goes back with the results", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: weatherModel })
      const generator = yield* openai(server.openaiBaseUrl)
      const first = yield* Generator.chat("Weather in Lyon?").pipe(
        Effect.provideService(Generator.Generator, generator)
      )
      assert.strictEqual(first.stopReason, "tool_calls")
      const calls = callsOf(first)
      assert.deepStrictEqual(calls?.map((c) => [c.id, c.name, c.input]), [["call_fake0_0", "weather", {
        city: "Lyon"
      }]])
      const answered = [
        ...first.all,
        Message.tool([new Message.ToolResultPart({ id: calls![0]!.id, name: "weather", output: "21 C" })])
      ]
      const second = yield* Generator.chat(answered).pipe(Effect.provideService(Generator.Generator, generator))
      assert.strictEqual(second.text, "It is 21 C")
      assert.deepStrictEqual(server.requests.map((r) => r.status), [200, 200])
    }))

  it.live("warns that a tool result's error flag has no OpenAI field", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const failed = new Message.ToolResultPart({ id: "call_1", name: "weather", output: "timeout", isError: true })
      const generation = yield* generator.generate(
        request([Message.user("Weather?"), Message.assistant([call]), Message.tool([failed])])
      )
      assert.deepStrictEqual(generation.warnings, [
        "messages[2]: tool result call_1 is an error, and openai tool messages have no error flag; its output was sent alone " +
        "(say in the output that the tool failed)"
      ])
    }))

  it.live("keeps arguments that are not JSON as text, and says when the server answered fewer choices than n", () =>
    Effect.gen(function*() {
      const url = yield* rawServer({
        choices: [{
          index: 0,
          message: {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{oops" } }]
          },
          finish_reason: "tool_calls"
        }],
        usage: { prompt_tokens: 1, completion_tokens: 1 }
      })
      const generator = yield* openai(`${url}/v1`)
      const generation = yield* generator.generate(request([Message.user("hi")], { n: 2 }))
      assert.strictEqual(generation.choices[0]!.toolCalls![0]!.input, "{oops")
      assert.deepStrictEqual(generation.warnings, [
        "tool call c1 (f): its arguments are not JSON; kept as text",
        "n=2 was not honoured: the server answered 1 choice(s)"
      ])
    }))
})

describe("anthropic: content parts", () => {
  it.live("maps parts to content blocks, lifts system, merges a tool message and a user message into one turn", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* generator.generate(request(conversation))
      const body = bodyOf(server)
      assert.strictEqual(body["system"], "Be terse.")
      assert.deepStrictEqual(body["messages"], [
        {
          role: "user",
          content: [
            { type: "text", text: "What is in these?" },
            { type: "image", source: { type: "url", url: "https://example.test/cat.png" } },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw==" } }
          ]
        },
        {
          role: "assistant",
          content: [{ type: "text", text: "Let me check." }, {
            type: "tool_use",
            id: "call_1",
            name: "weather",
            input: { city: "Lyon" }
          }]
        },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "call_1", content: "{\"celsius\":21}" }, {
            type: "text",
            text: "And the weather?"
          }]
        }
      ])
      assert.strictEqual(generation.choices[0]!.text, "echo: {\"celsius\":21}And the weather?") // the tool result is in the last user turn
    }))

  it.live("puts tool results first in their turn, marks errors, reads a data: URL as base64 and merges user turns", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const failed = new Message.ToolResultPart({ id: "call_1", name: "weather", output: "timeout", isError: true })
      yield* generator.generate(request([
        Message.user("Weather?"),
        Message.user([new Message.ImagePart({ url: "data:image/jpeg;base64,/9j/" })]),
        Message.assistant([call]),
        Message.user("Well?"),
        Message.tool([failed])
      ]))
      assert.deepStrictEqual(bodyOf(server)["messages"], [
        {
          role: "user",
          content: [
            { type: "text", text: "Weather?" },
            { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "/9j/" } }
          ]
        },
        { role: "assistant", content: [{ type: "tool_use", id: "call_1", name: "weather", input: { city: "Lyon" } }] },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "call_1", content: "timeout", is_error: true }, {
            type: "text",
            text: "Well?"
          }]
        }
      ])
    }))

  it.live("decodes tool_use blocks into Choice.toolCalls, and the chat goes back with the results", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: weatherModel })
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const first = yield* Generator.chat("Weather in Lyon?").pipe(
        Effect.provideService(Generator.Generator, generator)
      )
      assert.strictEqual(first.stopReason, "tool_calls")
      const calls = callsOf(first)
      assert.deepStrictEqual(calls?.map((c) => [c.id, c.name, c.input]), [["toolu_fake0_0", "weather", {
        city: "Lyon"
      }]])
      const answered = [
        ...first.all,
        Message.tool([new Message.ToolResultPart({ id: calls![0]!.id, name: "weather", output: "21 C" })])
      ]
      const second = yield* Generator.chat(answered).pipe(Effect.provideService(Generator.Generator, generator))
      assert.strictEqual(second.text, "It is 21 C")
      assert.deepStrictEqual(server.requests.map((r) => r.status), [200, 200])
    }))
})

describe("a part a provider cannot take is refused before any request", () => {
  const refusals: ReadonlyArray<readonly [string, ReadonlyArray<Message.Message>, RegExp]> = [
    [
      "an image in a system message",
      [Message.system([imageUrl]), Message.user("hi")],
      /^messages\[0\] \(system\): an image cannot go here: system messages take no images/
    ],
    [
      "an image as data without a media type",
      [Message.user([new Message.ImagePart({ data: "aGk=" })])],
      /^messages\[0\] \(user\): an image given as data needs its mediaType/
    ],
    ["an image with both a url and data", [
      Message.user([new Message.ImagePart({ url: "https://x.test/a.png", data: "aGk=", mediaType: "image/png" })])
    ], /both a url and data/],
    [
      "an image in an assistant message",
      [Message.user("hi"), Message.assistant([imageUrl])],
      /^messages\[1\] \(assistant\): an image cannot go here/
    ],
    ["a tool call in a user message", [Message.user([call])], /^messages\[0\] \(user\): a tool call cannot go here/],
    [
      "a tool result in an assistant message",
      [Message.user("hi"), Message.assistant([result])],
      /^messages\[1\] \(assistant\): a tool result cannot go here/
    ],
    [
      "a tool message of text",
      [Message.user("hi"), new Message.Message({ role: "tool", content: "21" })],
      /^messages\[1\] \(tool\): a tool message carries tool results/
    ],
    [
      "a tool result whose call is not in the conversation",
      [Message.user("hi"), Message.tool([result])],
      /^messages\[1\] \(tool\): the tool result call_1 \(weather\) answers no tool call/
    ],
    [
      "a tool call without its result",
      [Message.user("hi"), Message.assistant([call]), Message.user("next")],
      /^messages\[1\] \(assistant\): tool call call_1 \(weather\) has no result/
    ],
    ["a tool call answered twice", [
      Message.user("hi"),
      Message.assistant([call]),
      Message.tool([result]),
      Message.tool([result])
    ], /^messages\[3\] \(tool\): tool call call_1 is answered twice/]
  ]
  for (
    const [provider, make] of [["openai", (s: { openaiBaseUrl: string }) => openai(s.openaiBaseUrl)], [
      "anthropic",
      (s: { anthropicBaseUrl: string }) => anthropic(s.anthropicBaseUrl)
    ]] as const
  ) {
    for (const [what, messages, detail] of refusals) {
      it.live(`${provider}: ${what}`, () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped()
          const generator = yield* make(server)
          const error = yield* Effect.flip(generator.generate(request(messages)))
          assert.strictEqual(error._tag, "InvalidRequest")
          assert.strictEqual(error.provider, provider)
          assert.match(error.detail, detail)
          assert.isFalse(error.retryable)
          assert.strictEqual(server.stats.requests, 0)
        }))
    }
  }

  it.live("anthropic: an image type or URL scheme the API does not read", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const bmp = yield* Effect.flip(
        generator.generate(request([Message.user([Message.imageBytes(new Uint8Array([66, 77]), "image/bmp")])]))
      )
      assert.match(
        bmp.detail,
        /media type image\/bmp is not one Anthropic reads \(image\/jpeg, image\/png, image\/gif, image\/webp\)/
      )
      const ftp = yield* Effect.flip(
        generator.generate(request([Message.user([new Message.ImagePart({ url: "ftp://x.test/a.png" })])]))
      )
      assert.match(ftp.detail, /must be http\(s\)/)
      assert.strictEqual(server.stats.requests, 0)
    }))

  it.live("ollama: an image by URL (Ollama reads image bytes only), while bytes go through", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("ollama!llava", { OLLAMA_API_BASE: server.url })
      assert.strictEqual(generator.capabilities?.maxChoices, 1) // Ollama ignores n: the engine asks one choice at a time
      const error = yield* Effect.flip(generator.generate(request([Message.user([imageUrl])])))
      assert.match(error.detail, /^messages\[0\] \(user\): ollama takes images as bytes only, not by URL/)
      assert.strictEqual(server.stats.requests, 0)
      yield* generator.generate(request([Message.user([imageBytes])]))
      assert.strictEqual(server.stats.requests, 1)
    }))

  it.live("a completion pipeline (legacy completions endpoint) with an image part", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl, "openai!gpt-3.5-turbo-instruct")
      const [chat] = yield* CompletionPipeline.make("Describe: ").pipe(
        CompletionPipeline.runBatch([[Message.user([imageBytes])]], { onFailed: "include" }),
        Effect.provideService(Generator.Generator, generator)
      )
      assert.strictEqual(chat!.error?._tag, "InvalidRequest")
      assert.match(
        (chat!.error as { detail: string }).detail,
        /^messages\[1\] has an image part, and a completion sends its messages' text/
      )
      assert.strictEqual(server.stats.requests, 0)
    }))
})

describe("providerOptions: each provider sends its own entry", () => {
  const params = {
    temperature: 0.2,
    providerOptions: {
      openai: { user: "u-1", temperature: 1, stream: true },
      anthropic: { top_k: 5, max_tokens: 300 },
      vllm: { top_k: 20, user: "u-vllm" }
    }
  }

  it.live("openai sends the openai entry only, under the params, and warns of what it did not send", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const generation = yield* generator.generate(request([Message.user("hi")], params))
      assert.deepStrictEqual(bodyOf(server), {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "hi" }],
        temperature: 0.2,
        user: "u-1"
      })
      assert.deepStrictEqual(generation.warnings, [
        "provider option temperature was not sent: the request sets temperature itself (set it in the params or the messages)",
        "provider option stream was not sent: a generator streams through its stream capability"
      ])
    }))

  it.live("a compatible server (vllm) sends the openai entry with its own over it", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor(`vllm!m,base_url=${server.openaiBaseUrl}`)
      yield* generator.generate(request([Message.user("hi")], params))
      assert.deepStrictEqual(bodyOf(server), {
        model: "m",
        messages: [{ role: "user", content: "hi" }],
        temperature: 0.2,
        user: "u-vllm",
        top_k: 20
      })
    }))

  it.live("anthropic sends the anthropic entry only; its max_tokens replaces the default, not the params", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* generator.generate(request([Message.user("hi")], params))
      assert.deepStrictEqual(bodyOf(server), {
        model: "claude-3-5-haiku-latest",
        messages: [{ role: "user", content: "hi" }],
        temperature: 0.2,
        top_k: 5,
        max_tokens: 300
      })
      assert.strictEqual(generation.warnings, undefined)
      server.reset()
      yield* generator.generate(request([Message.user("hi")], { ...params, maxTokens: 50 }))
      assert.strictEqual(bodyOf(server)["max_tokens"], 50)
    }))
})

describe("warnings reach chats and batch rows", () => {
  it.live("anthropic: a param it does not take is a warning on the chat and on the batch row", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const expected = ["seed=7 was not sent: the Anthropic Messages API has no seed"]
      const chat = yield* Generator.chat("hi", { seed: 7 }).pipe(Effect.provideService(Generator.Generator, generator))
      assert.deepStrictEqual(chat.warnings, expected)
      const items = yield* Dataset.validate(Template.make("Say {word}"), [{ id: "a", word: "hi" }])
      const { rows } = yield* Batch.run(items, { params: { seed: 7 } }).pipe(
        Effect.provideService(Generator.Generator, generator)
      )
      assert.deepStrictEqual(rows[0]!.warnings, expected)
      assert.deepStrictEqual((yield* Batch.fromJsonLine(Batch.toJsonLine(rows[0]!))).warnings, expected)
      // without a param it does not take, no warning
      const plain = yield* Batch.run(items).pipe(Effect.provideService(Generator.Generator, generator))
      assert.strictEqual(plain.rows[0]!.warnings, undefined)
    }))
})

/** A server that answers every request with `body`, for answers the fake does not give. */
const rawServer = (body: unknown) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() =>
        new Promise<http.Server>((resolve) => {
          const server = http.createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              res.writeHead(200, { "content-type": "application/json" })
              res.end(JSON.stringify(body))
            })
          })
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
      ),
      (server) =>
        Effect.promise(() =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
        )
    ),
    (server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  )
