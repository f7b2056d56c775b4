import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as StreamChat from "../../examples/stream-chat.js"

describe("streaming example", () => {
  it.effect("prints the story as it arrives, then reads the second request's generation from its last part", () =>
    Effect.gen(function*() {
      const seen = yield* StreamChat.program
      expect(seen.pieces.length).toBe(StreamChat.story.split(" ").length)
      expect(seen.pieces.join("")).toBe(StreamChat.story)
      expect(seen.text).toBe(StreamChat.story)
      expect(seen.deltas).toBe(seen.pieces.length)
      expect(seen.outputTokens).toBeGreaterThan(0)
      expect(seen.stopReason).toBe("stop")
    }).pipe(Effect.provide(StreamChat.mock)))
})
