import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { GenerateParams, Generator, Message } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { FakeProvider } from "./support/FakeProvider.js"

const scenario = (name: string, server: Parameters<typeof FakeProvider.start>[0], n: number, concurrency: number, id: (base: string) => string) =>
  it.live(name, () => Effect.gen(function*() {
    const fake = yield* FakeProvider.scoped({ logRequests: false, ...server })
    const layer = Generator.layer(id(fake.openaiBaseUrl)).pipe(Layer.provide(Providers.layer))
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const results = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
      Effect.result(Generator.generate({ messages: [Message.user(`item ${i}`)], params: GenerateParams.make({ maxTokens: 16 }) })),
      { concurrency }).pipe(Effect.provide(layer))
    const wall = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const ok = results.filter((r) => r._tag === "Success").length
    const attempts = results.reduce((s, r) => s + (r._tag === "Success" ? r.success.attempts ?? 0 : 0), 0)
    console.log(name, JSON.stringify({ ok, lost: n - ok, wall: wall.toFixed(3), attempts, stats: fake.stats, cpuMsPerItem: ((cpu.user + cpu.system) / 1000 / n).toFixed(3) }))
  }), 120_000)

scenario("rate-limited declared", { rpm: 6000, burst: 1, latencyMs: 50 }, 1000, 100, (b) => `openai!gpt-4o-mini,api_key=sk-x,base_url=${b},rpm=6000`)
scenario("rate-limited learned", { rpm: 6000, burst: 1, latencyMs: 50 }, 1000, 100, (b) => `openai!gpt-4o-mini,api_key=sk-x,base_url=${b}`)
scenario("rate-limited no headers", { rpm: 6000, burst: 1, latencyMs: 50, rateLimitHeaders: false }, 1000, 100, (b) => `openai!gpt-4o-mini,api_key=sk-x,base_url=${b}`)
scenario("faults", { latencyMs: 20, faults: { rate: 0.25, kinds: ["server-error", "unavailable", "reset", "malformed"] } }, 2000, 100, (b) => `openai!gpt-4o-mini,api_key=sk-x,base_url=${b}`)
scenario("plain", { latencyMs: 20 }, 2000, 100, (b) => `openai!gpt-4o-mini,api_key=sk-x,base_url=${b}`)
