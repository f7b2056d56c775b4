import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Chat, ExhaustedMaxRounds, Generator, Identifier, ParseError, RateLimited } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"

describe("smoke", () => {
  it.effect("chat roundtrip", () => Effect.gen(function*() {
    const chat = yield* Generator.chat("Hello", { temperature: 0.2 }).pipe(Effect.provide(Generator.layer("mock!echo,max_tokens=50")))
    const json = JSON.parse(JSON.stringify(Chat.encode(chat)))
    const back = yield* Chat.decode(json)
    expect(back).toEqual(chat)
    expect(chat.generator).toBe("mock!echo,temperature=0.2,max_tokens=50")
    const failed = new Chat.Chat({ ...chat, error: new ExhaustedMaxRounds({ rounds: 3, lastError: new ParseError({ model: "answer", reason: "missing" }), chat }) })
    const j2 = JSON.parse(JSON.stringify(Chat.encode(failed)))
    const back2 = yield* Chat.decode(j2)
    expect(back2.error?._tag).toBe("ExhaustedMaxRounds")
    expect(back2.error?.message).toContain("Gave up after 3")
    const rl = new RateLimited({ provider: "x", detail: "d", retryAfterMs: 5 })
    expect(rl.message).toContain("Rate limited")
    expect(rl.retryable).toBe(true)
    const e = yield* Effect.flip(Identifier.parse("mock!echo,temperature=hot"))
    console.log(e.message)
    const r = yield* Generator.chat("x").pipe(Effect.provide(MockGenerator.fixed("yo")))
    expect(r.last?.content).toBe("yo")
  }))
})
