import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { GenerateParams, Generator, Message } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { FakeProvider } from "./support/FakeProvider.js"

it.live("429s", () => Effect.gen(function*() {
  const fake = yield* FakeProvider.scoped({ logRequests: false, rpm: 6000, burst: 1, latencyMs: 50 })
  const t0 = Date.now()
  const log: string[] = []
  const layer = Generator.layer(`openai!gpt-4o-mini,api_key=sk-x,base_url=${fake.openaiBaseUrl},rpm=6000`, { onRetry: (e) => Effect.sync(() => { log.push(`${Date.now() - t0} ${e.error._tag} ${e.delayMs} ${JSON.stringify((e.error as any).rateLimit)}`) }) }).pipe(Layer.provide(Providers.layer))
  yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) =>
    Effect.result(Generator.generate({ messages: [Message.user(`item ${i}`)], params: GenerateParams.make({ maxTokens: 16 }) })), { concurrency: 100 }).pipe(Effect.provide(layer))
  console.log(log.join("\n"), "\nwall", Date.now() - t0)
}), 120_000)
