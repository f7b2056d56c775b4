import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as EffectAi from "../../examples/effect-ai-language-model.js"

const logged = Effect.map(TestConsole.logLines, (lines) => lines.map(String))

describe("effect/ai example", () => {
  it.effect("effect/ai code runs on the Capstan generator, and an effect/ai LanguageModel runs a Capstan batch", () =>
    Effect.gen(function*() {
      const { chats, labels, tagline } = yield* EffectAi.program
      expect(labels).toEqual([
        { sentiment: "positive", summary: "Bright and clean." },
        { sentiment: "negative", summary: "Burnt and bitter." }
      ])
      // the mock streams word by word, so the tagline arrives in several deltas
      expect(tagline.text).toBe("Good coffee, slow mornings, kind people.")
      expect(tagline.deltas).toBe(6)
      expect(chats.map((chat) => [chat.generator, chat.text])).toEqual([
        ["shop!upper,rpm=600", "HELLO"],
        ["shop!upper,rpm=600", "EFFECT/AI"]
      ])
      const requests = yield* MockGenerator.requests
      // the two classifications asked for native structured output named after the schema; the tagline did not
      expect(requests.map((r) => r._tag === "chat" ? r.structured?.name : undefined)).toEqual([
        "Review",
        "Review",
        undefined
      ])
      const lines = yield* logged
      expect(lines).toEqual([
        "review 1: positive: Bright and clean.",
        "review 2: negative: Burnt and bitter.",
        "tagline (6 deltas): Good coffee, slow mornings, kind people.",
        "shop!upper,rpm=600: HELLO",
        "shop!upper,rpm=600: EFFECT/AI"
      ])
    }).pipe(Effect.provide(EffectAi.mock)))
})
