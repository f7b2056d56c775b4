import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { GenerateParams, Generator, Message } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { FakeProvider } from "./support/FakeProvider.js"

it.live("faults", () => Effect.gen(function*() {
  const fake = yield* FakeProvider.scoped({ logRequests: false, latencyMs: 20, faults: { rate: 0.25, kinds: (process.env.KINDS ?? "server-error,unavailable,reset,malformed").split(",") as any } })
  const retries: Record<string, number> = {}
  let delay = 0
  const layer = Generator.layer(`openai!gpt-4o-mini,api_key=sk-x,base_url=${fake.openaiBaseUrl}`, { onRetry: (e) => Effect.sync(() => { retries[e.error._tag] = (retries[e.error._tag] ?? 0) + 1; delay += e.delayMs }) }).pipe(Layer.provide(Providers.layer))
  const t0 = performance.now()
  const durations: number[] = []
  const results = yield* Effect.forEach(Array.from({ length: 2000 }, (_, i) => i), (i) => {
    const s = performance.now()
    return Effect.result(Generator.generate({ messages: [Message.user(`item ${i}`)], params: GenerateParams.make({ maxTokens: 16 }) })).pipe(Effect.tap(() => Effect.sync(() => durations.push(performance.now() - s))))
  }, { concurrency: 100 }).pipe(Effect.provide(layer))
  durations.sort((a, b) => a - b)
  console.log("faults", ((performance.now() - t0) / 1000).toFixed(3), results.filter((r) => r._tag === "Success").length, JSON.stringify(retries), "avg delay", (delay / Object.values(retries).reduce((a, b) => a + b, 0)).toFixed(1), "p50", durations[1000]!.toFixed(0), "p99", durations[1980]!.toFixed(0), "max", durations[1999]!.toFixed(0))
}), 120_000)
