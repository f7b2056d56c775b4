import { Generator } from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as Fallback from "../../examples/generator-fallback.js"

describe("generator examples", () => {
  it.live("a fallback answers for an overloaded generator; runOver gives a chat per generator", () =>
    Effect.gen(function*() {
      const { chats, rows } = yield* Fallback.program
      expect(rows.map((row) => row.generator)).toEqual(["mock!demo", "mock!demo", "mock!demo"])
      expect(rows.every((row) => row.error === undefined)).toBe(true)
      expect(chats.map((chat) => chat.generator)).toEqual(["mock!failing", "mock!echo", "mock!fixed,reply=Bonjour"])
      expect(chats.map((chat) => chat.failed)).toEqual([true, false, false])
      expect(chats[2]?.text).toBe("Bonjour")
      const lines = (yield* TestConsole.logLines).map(String)
      expect(lines.filter((line) => line.includes("answered by mock!demo")).length).toBe(3)
    }).pipe(Effect.provide([Fallback.mock, TestConsole.layer])))

  it.effect("the fallback is known by its first generator", () =>
    Effect.gen(function*() {
      const generator = yield* Generator.Generator
      expect(generator.identifier.model).toBe("failing")
    }).pipe(Effect.provide(Fallback.mock)))
})
