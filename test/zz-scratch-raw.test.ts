import { it } from "@effect/vitest"
import { Effect } from "effect"
import OpenAI from "openai"
import { FakeProvider } from "./support/FakeProvider.js"

it.live("raw sdk", () => Effect.promise(async () => {
  const fake = await FakeProvider.start({ logRequests: false, latencyMs: 20 })
  const client = new OpenAI({ baseURL: fake.openaiBaseUrl, apiKey: "sk-x", maxRetries: 0 })
  const n = 2000
  let next = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const worker = async () => { while (next < n) { const i = next++; await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `item ${i}` }], max_tokens: 16 }) } }
  await Promise.all(Array.from({ length: 100 }, worker))
  const cpu = process.cpuUsage(cpu0)
  console.log("raw", ((performance.now() - t0) / 1000).toFixed(3), "cpu/item ms", ((cpu.user + cpu.system) / 1000 / n).toFixed(3))
  await fake.close()
}), 60_000)
