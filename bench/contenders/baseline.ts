/**
 * The baseline: the plain `openai` SDK (default `maxRetries: 2`, i.e. 3 attempts, and its own backoff that honours
 * `retry-after-ms`) under `p-limit`, written the way people write it: map every item to a limited promise,
 * `Promise.allSettled`, then (memory scenario) write the results, all held in memory, as JSONL.
 */
import { createWriteStream } from "node:fs"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import OpenAI from "openai"
import pLimit from "p-limit"
import { bump, errorName, type Outcome, readTask, runMeasured } from "../internal/measure.js"
import { API_KEY, expectedAnswer, MODEL, prompt } from "../internal/protocol.js"

const task = readTask()

/** The memory-conscious way to write it: each result appended to the file as it completes, nothing kept. */
const streamed = async (output: string): Promise<Outcome> => {
  const client = new OpenAI({ baseURL: task.baseUrl, apiKey: API_KEY })
  const limit = pLimit(task.concurrency)
  const file = createWriteStream(output)
  const errors: Record<string, number> = {}
  let ok = 0
  let wrong = 0
  await Promise.all(Array.from({ length: task.items }, (_, n) =>
    limit(async () => {
      try {
        const result = await client.chat.completions.create({
          model: MODEL,
          messages: [{ role: "user", content: prompt(n) }]
        })
        if (result.choices[0]?.message.content === expectedAnswer(n)) ok++
        else wrong++
        file.write(`${JSON.stringify({ n, output: result.choices[0]?.message.content, usage: result.usage })}\n`)
      } catch (error) {
        bump(errors, errorName(error))
        file.write(`${JSON.stringify({ n, error: String(error) })}\n`)
      }
    })))
  await new Promise<void>((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve())))
  const failed = Object.values(errors).reduce((a, b) => a + b, 0)
  return { ok, failed, missing: task.items - ok - wrong - failed, wrong, errors }
}

const run = async (): Promise<Outcome> => {
  if (task.streamResults === true && task.output !== undefined) return streamed(task.output)
  const client = new OpenAI({ baseURL: task.baseUrl, apiKey: API_KEY })
  const limit = pLimit(task.concurrency)
  const numbers = Array.from({ length: task.items }, (_, n) => n)
  const settled = await Promise.allSettled(
    numbers.map((n) =>
      limit(() => client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: prompt(n) }] }))
    )
  )
  const errors: Record<string, number> = {}
  let ok = 0
  let wrong = 0
  settled.forEach((result, n) => {
    if (result.status === "rejected") bump(errors, errorName(result.reason))
    else if (result.value.choices[0]?.message.content === expectedAnswer(n)) ok++
    else wrong++
  })
  if (task.output !== undefined) {
    const lines = function*() {
      for (const [n, result] of settled.entries()) {
        yield `${
          JSON.stringify(
            result.status === "fulfilled"
              ? { n, output: result.value.choices[0]?.message.content, usage: result.value.usage }
              : { n, error: String(result.reason) }
          )
        }\n`
      }
    }
    await pipeline(Readable.from(lines()), createWriteStream(task.output))
  }
  const failed = settled.length - ok - wrong
  return { ok, failed, missing: task.items - settled.length, wrong, errors }
}

await runMeasured(task, run)
