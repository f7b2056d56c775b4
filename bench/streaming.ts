/**
 * Streaming overhead: Capstan's `Generator.stream` (the OpenAI provider, through the engine) against the plain
 * OpenAI SDK's stream, on the same fake provider, same settings, in one run:
 *
 *   npx -y pnpm@10 bench:streaming [--streams 300] [--concurrency 10] [--rounds 3] [--chunk-chars 4] [--delay-ms 2]
 *
 * The fake runs in its own process (`bench/server.ts`) and paces its events `--delay-ms` apart, `--chunk-chars`
 * characters each. Both contenders run here, one after the other, in alternating order over `--rounds` rounds
 * (after a warm-up each): time to first token (from the call to the first text delta: median and p95) and CPU per
 * streamed delta (`process.cpuUsage()` of this process over a round, divided by the deltas received), printed with
 * the ratios Capstan / SDK. Every answer is checked to be complete.
 */
import { GenerateParams, Generator, Identifier, Message } from "@capstan/core"
import { OpenAI as CapstanOpenAI, Providers } from "@capstan/providers"
import { Effect, Exit, Layer, ManagedRuntime, Redacted, Scope, Stream } from "effect"
import { parseArgs } from "node:util"
import OpenAI from "openai"
import { startServer } from "./internal/processes.js"

const { values: flags } = parseArgs({
  options: {
    streams: { type: "string", default: "300" },
    concurrency: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    "chunk-chars": { type: "string", default: "4" },
    "delay-ms": { type: "string", default: "2" },
    "prompt-chars": { type: "string", default: "400" }
  }
})
const streams = Number(flags.streams)
const concurrency = Number(flags.concurrency)
const rounds = Number(flags.rounds)
const chunkChars = Number(flags["chunk-chars"])
const delayMs = Number(flags["delay-ms"])
const prompt = "All work and no play makes a streamed answer. ".repeat(100).slice(0, Number(flags["prompt-chars"]))
const expected = `echo: ${prompt}`
const API_KEY = "sk-bench-streaming"
const MODEL = "gpt-4o-mini"

/** One stream, as a contender reports it. */
interface Streamed {
  readonly ttftMs: number
  readonly deltas: number
  readonly complete: boolean
}

type Contender = (i: number) => Effect.Effect<Streamed, unknown>

const server = await startServer({ streamChunkChars: chunkChars, streamChunkDelayMs: delayMs, logRequests: false })
const baseUrl = `${server.url}/v1`

const runtime = ManagedRuntime.make(
  Generator.layer(`openai!${MODEL},base_url=${baseUrl},api_key=${API_KEY}`).pipe(Layer.provide(Providers.layer))
)
const generator = await runtime.runPromise(Generator.Generator.useSync((service) => service))

// The same provider over the SDK's default fetch instead of Capstan's transport: what the transport costs.
const scope = await Effect.runPromise(Scope.make())
const overFetch = await Effect.runPromise(
  CapstanOpenAI.makeGenerator(Identifier.make({ provider: "openai", model: MODEL }), {
    apiKey: Redacted.make(API_KEY),
    baseURL: baseUrl,
    fetch: globalThis.fetch
  }).pipe(Scope.provide(scope))
)

const capstanOver = (service: Generator.Service): Contender => (i) =>
  Effect.suspend(() => {
    const started = performance.now()
    let first: number | undefined
    let deltas = 0
    let text = ""
    const stream = service.stream!({ messages: [Message.user(prompt)], params: GenerateParams.make({ seed: i }) })
    return stream.pipe(
      Stream.runForEach((part) =>
        Effect.sync(() => {
          if (part._tag !== "Delta") return
          first ??= performance.now()
          deltas++
          text += part.text
        })
      ),
      Effect.map(() => ({ ttftMs: (first ?? NaN) - started, deltas, complete: text === expected }))
    )
  })

const capstan = capstanOver(generator)
const capstanFetch = capstanOver(overFetch)

const client = new OpenAI({ baseURL: baseUrl, apiKey: API_KEY, maxRetries: 0 })

const sdk: Contender = (i) =>
  Effect.promise(async () => {
    const started = performance.now()
    let first: number | undefined
    let deltas = 0
    let text = ""
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: prompt }],
      seed: i,
      stream: true,
      stream_options: { include_usage: true }
    })
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta.content
      if (content === undefined || content === null || content.length === 0) continue
      first ??= performance.now()
      deltas++
      text += content
    }
    return { ttftMs: (first ?? NaN) - started, deltas, complete: text === expected }
  })

/** One round of a contender: `n` streams, `concurrency` at a time, and the CPU this process spent on them. */
const round = (contender: Contender, n: number) =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    const results = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), contender, { concurrency })
    const spent = process.cpuUsage(cpu)
    return { results, cpuMicros: spent.user + spent.system }
  })

const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

const contenders = { capstan, capstanFetch, sdk } as const
type Name = keyof typeof contenders
const names: ReadonlyArray<Name> = ["capstan", "capstanFetch", "sdk"]
interface Totals {
  readonly ttfts: Array<number>
  deltas: number
  cpuMicros: number
  incomplete: number
}
const empty = (): Totals => ({ ttfts: [], deltas: 0, cpuMicros: 0, incomplete: 0 })
const totals: Record<Name, Totals> = { capstan: empty(), capstanFetch: empty(), sdk: empty() }

const main = Effect.gen(function*() {
  for (const name of names) yield* round(contenders[name], 20)
  for (let r = 0; r < rounds; r++) {
    // Each contender first, middle and last in turn.
    const order = names.map((_, k) => names[(k + r) % names.length]!)
    for (const name of order) {
      const { cpuMicros, results } = yield* round(contenders[name], streams)
      const total = totals[name]
      total.cpuMicros += cpuMicros
      for (const result of results) {
        total.ttfts.push(result.ttftMs)
        total.deltas += result.deltas
        if (!result.complete) total.incomplete++
      }
    }
  }
})

try {
  await Effect.runPromise(main)
  const row = (name: Name) => {
    const t = totals[name]
    return {
      ttftMedianMs: quantile(t.ttfts, 0.5),
      ttftP95Ms: quantile(t.ttfts, 0.95),
      cpuMicrosPerDelta: t.cpuMicros / t.deltas,
      deltas: t.deltas,
      incomplete: t.incomplete
    }
  }
  const c = row("capstan")
  const cf = row("capstanFetch")
  const s = row("sdk")
  const f = (x: number, digits = 2) => x.toFixed(digits)
  console.log(
    `streaming: ${rounds} rounds × ${streams} streams (${concurrency} at a time), ${expected.length} chars in ` +
      `${chunkChars}-char events ${delayMs} ms apart`
  )
  const line = (what: string, pick: (r: typeof c) => number, unit: string, digits = 2) =>
    console.log(
      `| ${what} | ${f(pick(c), digits)} ${unit} | ${f(pick(cf), digits)} ${unit} | ${f(pick(s), digits)} ${unit} | ${
        f(pick(c) / pick(s))
      } | ${f(pick(cf) / pick(s))} |`
    )
  console.log("| | Capstan | Capstan over the SDK's fetch | OpenAI SDK | Capstan / SDK | over fetch / SDK |")
  console.log("|---|---|---|---|---|---|")
  line("time to first token, median", (r) => r.ttftMedianMs, "ms")
  line("time to first token, p95", (r) => r.ttftP95Ms, "ms")
  line("CPU per streamed delta", (r) => r.cpuMicrosPerDelta, "µs", 1)
  const received = (r: typeof c) => `${r.deltas} (${r.incomplete})`
  console.log(`| deltas received (incomplete answers) | ${received(c)} | ${received(cf)} | ${received(s)} | | |`)
  console.log(JSON.stringify({ capstan: c, capstanOverFetch: cf, sdk: s }))
  if (c.incomplete + cf.incomplete + s.incomplete > 0) process.exitCode = 1
} finally {
  await runtime.dispose()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await server.close()
}
