import Anthropic from "@anthropic-ai/sdk"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { createInterface } from "node:readline"
import OpenAI, { toFile } from "openai"
import { describe, expect, it } from "vitest"
import {
  batchLedgerKey,
  FakeProvider,
  type FakeProviderOptions,
  type FakeProviderServer,
  type FakeRequest
} from "./support/FakeProvider.js"

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

/** A batch clock the test moves by hand. */
const manualClock = (start = Date.UTC(2030, 0, 1)) => {
  let now = start
  return {
    start,
    now: () => now,
    advance: (ms: number) => {
      now += ms
    }
  }
}

const openai = (server: FakeProviderServer) =>
  new OpenAI({ baseURL: server.openaiBaseUrl, apiKey: "sk-test", maxRetries: 0, timeout: 10_000 })
const anthropic = (server: FakeProviderServer) =>
  new Anthropic({ baseURL: server.anthropicBaseUrl, apiKey: "ak-test", maxRetries: 0, timeout: 10_000 })

const withServer = async <A>(
  options: FakeProviderOptions,
  body: (server: FakeProviderServer) => Promise<A>
): Promise<A> => {
  const server = await FakeProvider.start(options)
  try {
    return await body(server)
  } finally {
    await server.close()
  }
}

const rejection = async (p: Promise<unknown>): Promise<unknown> => {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error("expected a rejection")
}

type Json = Record<string, unknown>

const chatBody = (content: string, extra: Json = {}): Json => ({
  model: "gpt-fake",
  messages: [{ role: "user", content }],
  ...extra
})

const chatLine = (customId: string, body: Json = chatBody(customId)): Json => ({
  custom_id: customId,
  method: "POST",
  url: "/v1/chat/completions",
  body
})

const jsonl = (lines: ReadonlyArray<unknown>): string => lines.map((l) => JSON.stringify(l)).join("\n") + "\n"

const upload = async (client: OpenAI, content: string, filename = "in.jsonl") =>
  client.files.create({ file: await toFile(Buffer.from(content), filename), purpose: "batch" })

/** Uploads `lines` and creates a chat batch from them. */
const submit = async (
  client: OpenAI,
  lines: ReadonlyArray<unknown>,
  endpoint: "/v1/chat/completions" | "/v1/completions" = "/v1/chat/completions"
) => {
  const file = await upload(client, jsonl(lines))
  return client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" })
}

const readJsonl = async (client: OpenAI, fileId: string | null | undefined): Promise<Array<Json>> => {
  if (fileId === null || fileId === undefined) return []
  const text = await (await client.files.content(fileId)).text()
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as Json)
}

/** Drops the fields that differ between two answers to the same request: ids and timestamps. */
const withoutIds = (u: unknown): unknown =>
  Array.isArray(u)
    ? u.map(withoutIds)
    : typeof u === "object" && u !== null
    ? Object.fromEntries(
      Object.entries(u).filter(([k]) => k !== "id" && k !== "created").map(([k, v]) => [k, withoutIds(v)])
    )
    : u

const byCustomId = (lines: ReadonlyArray<Json>) => new Map(lines.map((l) => [l["custom_id"] as string, l]))

const results = async (client: Anthropic, id: string) => {
  const out: Array<Anthropic.Messages.Batches.MessageBatchIndividualResponse> = []
  for await (const r of await client.messages.batches.results(id)) out.push(r)
  return out
}

const messageParams = (content: string, extra: Json = {}) => ({
  model: "claude-fake",
  max_tokens: 64,
  messages: [{ role: "user" as const, content }],
  ...extra
})

// ---------------------------------------------------------------------------------------------------------------------
// OpenAI

describe("OpenAI files", () => {
  it("stores an upload and serves its object and bytes back, until it is deleted", async () => {
    await withServer({}, async (server) => {
      const client = openai(server)
      const content = jsonl([chatLine("a"), chatLine("b")])
      const file = await upload(client, content)
      expect(file).toMatchObject({
        object: "file",
        bytes: Buffer.byteLength(content),
        filename: "in.jsonl",
        purpose: "batch",
        status: "processed"
      })
      expect(file.id).toMatch(/^file-/)
      expect(await client.files.retrieve(file.id)).toEqual(file)
      expect(await (await client.files.content(file.id)).text()).toBe(content)
      expect((await client.files.list()).data.map((f) => f.id)).toEqual([file.id])
      expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: "file", deleted: true })
      expect(await rejection(client.files.retrieve(file.id))).toBeInstanceOf(OpenAI.NotFoundError)
      expect(server.stats.batches.filesUploaded).toBe(1)
    })
  })

  it("refuses a batch file that is not .jsonl, and a multipart body without a file", async () => {
    await withServer({}, async (server) => {
      const client = openai(server)
      const error = await rejection(upload(client, jsonl([chatLine("a")]), "in.txt"))
      expect(error).toBeInstanceOf(OpenAI.BadRequestError)
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("file")
      const form = new FormData()
      form.set("purpose", "batch")
      const res = await fetch(`${server.openaiBaseUrl}/files`, { method: "POST", body: form })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: { param: "file", type: "invalid_request_error" } })
    })
  })
})

describe("OpenAI batches", () => {
  it("moves through validating, in_progress, finalizing and completed on the batch clock", async () => {
    const clock = manualClock()
    const batch = { now: clock.now, validatingMs: 1_000, perRequestMs: 100, finalizingMs: 500 }
    await withServer({ batch }, async (server) => {
      const client = openai(server)
      const created = await submit(client, [chatLine("a"), chatLine("b"), chatLine("c")])
      const seconds = Math.floor(clock.start / 1000)
      expect(created).toMatchObject({
        object: "batch",
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
        status: "validating",
        errors: null,
        output_file_id: null,
        error_file_id: null,
        created_at: seconds,
        in_progress_at: null,
        expires_at: seconds + 24 * 3600,
        request_counts: { total: 0, completed: 0, failed: 0 },
        metadata: null,
        model: "gpt-fake"
      })
      expect(created.id).toMatch(/^batch_/)
      const status = async () => {
        const b = await client.batches.retrieve(created.id)
        return [b.status, b.request_counts?.completed, b.output_file_id]
      }
      clock.advance(999)
      expect(await status()).toEqual(["validating", 0, null])
      clock.advance(1)
      expect(await status()).toEqual(["in_progress", 0, null])
      clock.advance(100)
      expect(await status()).toEqual(["in_progress", 1, null])
      clock.advance(150)
      expect(await status()).toEqual(["in_progress", 2, null])
      clock.advance(50)
      expect(await status()).toEqual(["finalizing", 3, null])
      clock.advance(499)
      expect(await status()).toEqual(["finalizing", 3, null])
      clock.advance(1)
      const done = await client.batches.retrieve(created.id)
      expect(done).toMatchObject({
        status: "completed",
        in_progress_at: seconds + 1,
        finalizing_at: Math.floor((clock.start + 1_300) / 1000),
        completed_at: Math.floor((clock.start + 1_800) / 1000),
        request_counts: { total: 3, completed: 3, failed: 0 },
        error_file_id: null
      })
      expect(done.output_file_id).toMatch(/^file-/)
      expect(done.usage?.output_tokens).toBeGreaterThan(0)
      expect(await client.files.retrieve(done.output_file_id!)).toMatchObject({ purpose: "batch_output" })
      const lines = await readJsonl(client, done.output_file_id)
      expect(lines.map((l) => l["custom_id"])).toEqual(["a", "b", "c"])
      const bytes = (await (await client.files.content(done.output_file_id!)).arrayBuffer()).byteLength
      expect((await client.files.retrieve(done.output_file_id!)).bytes).toBe(bytes)
    })
  })

  it("answers every line with the body the realtime endpoint gives the same request", async () => {
    const respond = (req: FakeRequest) =>
      req.prompt === "scripted" ? { toolCalls: [{ name: "lookup", input: { q: 1 } }], text: "let me look" } : undefined
    await withServer({ respond }, async (server) => {
      const client = openai(server)
      const schema = {
        type: "object",
        properties: { answer: { type: "string", enum: ["yes", "no"] }, score: { type: "number" } },
        required: ["answer", "score"],
        additionalProperties: false
      }
      const tool = { type: "function", function: { name: "classify", parameters: schema } }
      const bodies: Record<string, Json> = {
        plain: chatBody("hello there"),
        choices: chatBody("pick one", { n: 3, logprobs: true, top_logprobs: 2, max_completion_tokens: 2 }),
        schema: chatBody("classify this", {
          response_format: { type: "json_schema", json_schema: { name: "c", strict: true, schema } }
        }),
        forced: chatBody("use the tool", { tools: [tool], tool_choice: "required" }),
        stopped: chatBody("stop right there", { stop: ["right"] }),
        scripted: chatBody("scripted")
      }
      const created = await submit(client, Object.entries(bodies).map(([id, body]) => chatLine(id, body)))
      const done = await client.batches.retrieve(created.id)
      expect(done.status).toBe("completed")
      const lines = byCustomId(await readJsonl(client, done.output_file_id))
      for (const [id, body] of Object.entries(bodies)) {
        const realtime = await client.chat.completions.create(body as never)
        const line = lines.get(id)!
        expect(line["id"]).toMatch(/^batch_req_/)
        expect(line["error"]).toBeNull()
        expect(line["response"]).toMatchObject({ status_code: 200, request_id: expect.any(String) })
        const batchBody = (line["response"] as Json)["body"]
        expect(withoutIds(batchBody), id).toEqual(withoutIds(realtime))
      }
      // the scripted reply really went through respond, and the default answers really differ per request
      expect(JSON.stringify(lines.get("scripted"))).toContain("let me look")
      expect(JSON.stringify(lines.get("plain"))).toContain("echo: hello there")
    })
  })

  it("answers legacy completions batches like /v1/completions, and tells respond which batch asks", async () => {
    const seen: Array<FakeRequest> = []
    const respond = (req: FakeRequest) => {
      seen.push(req)
      return undefined
    }
    await withServer({ respond }, async (server) => {
      const client = openai(server)
      const body = { model: "davinci-fake", prompt: ["one", "two"], n: 2, logprobs: 1 }
      const line = { custom_id: "legacy", method: "POST", url: "/v1/completions", body }
      const created = await submit(client, [line], "/v1/completions")
      const done = await client.batches.retrieve(created.id)
      const [out] = await readJsonl(client, done.output_file_id)
      const realtime = await client.completions.create(body)
      expect(withoutIds((out!["response"] as Json)["body"])).toEqual(withoutIds(realtime))
      const batchCalls = seen.filter((r) => r.batch !== undefined)
      expect(batchCalls.map((r) => [r.path, r.prompt, r.promptIndex])).toEqual([
        ["/v1/completions", "one", 0],
        ["/v1/completions", "two", 1]
      ])
      expect(batchCalls[0]!.batch).toEqual({ provider: "openai", id: created.id, customId: "legacy", index: 0 })
      expect(batchCalls[0]!.headers.authorization).toBe("Bearer sk-test")
      expect(seen.filter((r) => r.batch === undefined)).toHaveLength(2)
    })
  })

  it("puts requests the endpoint refuses, and scripted errors, in the error file with the realtime error body", async () => {
    const respond = (
      req: FakeRequest
    ) => (req.prompt === "boom" ? { error: { status: 503, message: "down" } } : undefined)
    await withServer({ respond }, async (server) => {
      const client = openai(server)
      const refused = { model: "gpt-fake", messages: [{ role: "wizard", content: "hi" }] }
      const created = await submit(client, [
        chatLine("ok"),
        chatLine("refused", refused),
        chatLine("boom", chatBody("boom"))
      ])
      const done = await client.batches.retrieve(created.id)
      expect(done).toMatchObject({ status: "completed", request_counts: { total: 3, completed: 1, failed: 2 } })
      expect((await readJsonl(client, done.output_file_id)).map((l) => l["custom_id"])).toEqual(["ok"])
      const errors = byCustomId(await readJsonl(client, done.error_file_id))
      const realtime = await rejection(client.chat.completions.create(refused as never))
      expect(realtime).toBeInstanceOf(OpenAI.BadRequestError)
      expect(errors.get("refused")).toMatchObject({
        error: null,
        response: { status_code: 400, body: { error: (realtime as InstanceType<typeof OpenAI.APIError>).error } }
      })
      expect(errors.get("boom")).toMatchObject({
        response: { status_code: 503, body: { error: { message: "down" } } }
      })
    })
  })

  it("fails a fraction of the requests with batch faults, the same ones for the same seed", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => chatLine(`r${i}`))
    const failedIds = async (seed: number) =>
      withServer({ seed, batchFaults: { errorRate: 0.3, errorKinds: ["server", "rate-limit"] } }, async (server) => {
        const client = openai(server)
        const done = await client.batches.retrieve((await submit(client, lines)).id)
        const errors = await readJsonl(client, done.error_file_id)
        expect(done.request_counts?.failed).toBe(errors.length)
        expect(done.request_counts?.completed).toBe(40 - errors.length)
        const statuses = new Set(errors.map((e) => (e["response"] as Json)["status_code"]))
        expect([...statuses].every((s) => s === 500 || s === 429)).toBe(true)
        return errors.map((e) => e["custom_id"])
      })
    const first = await failedIds(7)
    expect(first.length).toBeGreaterThan(3)
    expect(first.length).toBeLessThan(25)
    expect(await failedIds(7)).toEqual(first)
    expect(await failedIds(8)).not.toEqual(first)
  })

  it("ignores the realtime rate limits and faults", async () => {
    await withServer({ rpm: 1, faults: { rate: 1, kinds: ["server-error"] } }, async (server) => {
      const client = openai(server)
      const done = await client.batches.retrieve((await submit(client, [chatLine("a"), chatLine("b")])).id)
      expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 })
      expect(await rejection(client.chat.completions.create(chatBody("x") as never))).toBeInstanceOf(
        OpenAI.InternalServerError
      )
    })
  })

  it("expires a stalled batch at the end of its window: the requests that did not run go to the error file", async () => {
    const clock = manualClock()
    await withServer({ batch: { now: clock.now }, batchFaults: { expire: { afterRequests: 2 } } }, async (server) => {
      const client = openai(server)
      const created = await submit(client, ["a", "b", "c", "d", "e"].map((id) => chatLine(id)))
      clock.advance(1_000)
      expect(await client.batches.retrieve(created.id)).toMatchObject({
        status: "in_progress",
        request_counts: { completed: 2 }
      })
      clock.advance(24 * 3600 * 1000 - 1_001)
      expect((await client.batches.retrieve(created.id)).status).toBe("in_progress")
      clock.advance(1)
      const done = await client.batches.retrieve(created.id)
      expect(done).toMatchObject({ status: "expired", expired_at: done.expires_at, completed_at: null })
      expect((await readJsonl(client, done.output_file_id)).map((l) => l["custom_id"])).toEqual(["a", "b"])
      const errors = await readJsonl(client, done.error_file_id)
      expect(errors.map((l) => [l["custom_id"], l["response"], (l["error"] as Json)["code"]])).toEqual([
        ["c", null, "batch_expired"],
        ["d", null, "batch_expired"],
        ["e", null, "batch_expired"]
      ])
    })
  })

  it("expires a batch too slow for its completion window", async () => {
    const clock = manualClock()
    const batch = { now: clock.now, perRequestMs: 400, completionWindowMs: 1_000 }
    await withServer({ batch }, async (server) => {
      const client = openai(server)
      const created = await submit(client, ["a", "b", "c"].map((id) => chatLine(id)))
      clock.advance(1_000)
      const done = await client.batches.retrieve(created.id)
      expect(done).toMatchObject({ status: "expired", request_counts: { total: 3, completed: 2, failed: 0 } })
      expect((await readJsonl(client, done.error_file_id)).map((l) => l["custom_id"])).toEqual(["c"])
    })
  })

  it("cancels: cancelling, then cancelled, keeping the answers already made", async () => {
    const clock = manualClock()
    await withServer({ batch: { now: clock.now, perRequestMs: 100, cancellingMs: 1_000 } }, async (server) => {
      const client = openai(server)
      const created = await submit(client, ["a", "b", "c", "d", "e"].map((id) => chatLine(id)))
      clock.advance(250)
      const cancelling = await client.batches.cancel(created.id)
      expect(cancelling).toMatchObject({
        status: "cancelling",
        cancelling_at: Math.floor((clock.start + 250) / 1000),
        cancelled_at: null,
        request_counts: { completed: 2 }
      })
      clock.advance(999)
      expect((await client.batches.retrieve(created.id)).status).toBe("cancelling")
      clock.advance(1)
      const done = await client.batches.retrieve(created.id)
      expect(done).toMatchObject({ status: "cancelled", request_counts: { total: 5, completed: 2, failed: 0 } })
      expect((await readJsonl(client, done.output_file_id)).map((l) => l["custom_id"])).toEqual(["a", "b"])
      const errors = await readJsonl(client, done.error_file_id)
      expect(errors.map((l) => [l["custom_id"], (l["error"] as Json)["code"]])).toEqual([
        ["c", "batch_cancelled"],
        ["d", "batch_cancelled"],
        ["e", "batch_cancelled"]
      ])
      expect((await client.batches.cancel(created.id)).status).toBe("cancelled")
      const finished = await submit(client, [chatLine("z")])
      clock.advance(1_000)
      const conflict = await rejection(client.batches.cancel(finished.id))
      expect(conflict).toBeInstanceOf(OpenAI.ConflictError)
      expect(server.batchLedger().has(batchLedgerKey("openai", "c", "gpt-fake"))).toBe(false)
    })
  })

  describe("fails validation like the real service", () => {
    const line = (id: string, patch: Json = {}) => JSON.stringify({ ...chatLine(id), ...patch })
    const cases: ReadonlyArray<{
      readonly name: string
      readonly content: string
      readonly options?: FakeProviderOptions["batch"]
      readonly error: Json
    }> = [
      {
        name: "a line that is not JSON",
        content: `${line("a")}\n{"custom_id": \n`,
        error: { code: "invalid_json_line", line: 2 }
      },
      {
        name: "duplicate custom ids",
        content: [line("a"), line("b"), line("a")].join("\n"),
        error: { code: "duplicate_custom_id", line: 3, param: "custom_id" }
      },
      {
        name: "two models in one file",
        content: [line("a"), line("b", { body: { ...chatBody("b"), model: "gpt-other" } })].join("\n"),
        error: { code: "mismatched_model", line: 2 }
      },
      {
        name: "a url other than the batch endpoint",
        content: [line("a"), line("b", { url: "/v1/completions" })].join("\n"),
        error: { code: "invalid_url", line: 2, param: "url" }
      },
      {
        name: "a missing custom id",
        content: JSON.stringify({ method: "POST", url: "/v1/chat/completions", body: chatBody("x") }),
        error: { code: "missing_required_parameter", line: 1, param: "custom_id" }
      },
      {
        name: "a method other than POST",
        content: line("a", { method: "GET" }),
        error: { code: "invalid_value", line: 1, param: "method" }
      },
      { name: "an empty file", content: "", error: { code: "empty_file" } },
      {
        name: "more lines than the configured limit",
        content: [line("a"), line("b"), line("c")].join("\n"),
        options: { openaiMaxRequests: 2 },
        error: { code: "too_many_requests", line: null }
      },
      {
        name: "more bytes than the configured limit",
        content: [line("a"), line("b")].join("\n"),
        options: { openaiMaxBytes: 100 },
        error: { code: "file_too_large" }
      }
    ]
    for (const c of cases) {
      it(c.name, async () => {
        const clock = manualClock()
        await withServer({ batch: { now: clock.now, validatingMs: 500, ...c.options } }, async (server) => {
          const client = openai(server)
          const file = await upload(client, c.content)
          const created = await client.batches.create({
            input_file_id: file.id,
            endpoint: "/v1/chat/completions",
            completion_window: "24h"
          })
          expect(created.status).toBe("validating")
          clock.advance(499)
          expect((await client.batches.retrieve(created.id)).status).toBe("validating")
          clock.advance(1)
          const failed = await client.batches.retrieve(created.id)
          expect(failed).toMatchObject({
            status: "failed",
            failed_at: Math.floor((clock.start + 500) / 1000),
            in_progress_at: null,
            output_file_id: null,
            error_file_id: null,
            request_counts: { total: 0, completed: 0, failed: 0 },
            errors: { object: "list", data: [expect.objectContaining(c.error)] }
          })
          expect(failed.errors?.data?.[0]?.message).toEqual(expect.any(String))
          expect(server.stats.batches.requestsProcessed).toBe(0)
        })
      })
    }

    it("refuses a create naming an unknown file, an unsupported endpoint or window", async () => {
      await withServer({}, async (server) => {
        const client = openai(server)
        const create = (params: Json) =>
          client.batches.create({ endpoint: "/v1/chat/completions", completion_window: "24h", ...params } as never)
        expect(await rejection(create({ input_file_id: "file-nope" }))).toBeInstanceOf(OpenAI.NotFoundError)
        const file = await upload(client, jsonl([chatLine("a")]))
        const endpoint = await rejection(create({ input_file_id: file.id, endpoint: "/v1/embeddings" }))
        expect(endpoint).toMatchObject({ status: 400, param: "endpoint" })
        const window = await rejection(create({ input_file_id: file.id, completion_window: "1h" }))
        expect(window).toMatchObject({ status: 400, param: "completion_window" })
        expect(server.stats.batches.batchesCreated).toBe(0)
      })
    })
  })

  it("fails a batch over the enqueued-token limit of its model while earlier ones are unfinished", async () => {
    const clock = manualClock()
    // Each line costs 3 tokens (1 for the prompt "rN", 2 for the answer "echo: rN"): a batch of 10 costs 30
    const lines = (model: string) =>
      Array.from({ length: 10 }, (_, i) => chatLine(`r${i}`, { ...chatBody(`r${i}`), model }))
    await withServer({ batch: { now: clock.now, perRequestMs: 10, enqueuedTokenLimit: 50 } }, async (server) => {
      const client = openai(server)
      const first = await submit(client, lines("gpt-fake"))
      const other = await submit(client, lines("gpt-other"))
      const over = await submit(client, lines("gpt-fake"))
      clock.advance(1)
      expect((await client.batches.retrieve(first.id)).status).toBe("in_progress")
      expect((await client.batches.retrieve(other.id)).status).toBe("in_progress")
      expect(await client.batches.retrieve(over.id)).toMatchObject({
        status: "failed",
        errors: { data: [expect.objectContaining({ code: "token_limit_exceeded" })] }
      })
      clock.advance(200)
      expect((await client.batches.retrieve(first.id)).status).toBe("completed")
      const later = await submit(client, lines("gpt-fake"))
      clock.advance(1)
      expect((await client.batches.retrieve(later.id)).status).toBe("in_progress")
    })
  })

  it("lists batches newest first, a page at a time", async () => {
    await withServer({}, async (server) => {
      const client = openai(server)
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) ids.push((await submit(client, [chatLine(`r${i}`)])).id)
      const newestFirst = ids.slice().reverse()
      const page = await client.batches.list({ limit: 2 })
      expect(page.data.map((b) => b.id)).toEqual(newestFirst.slice(0, 2))
      expect(page.has_more).toBe(true)
      const next = await page.getNextPage()
      expect(next.data.map((b) => b.id)).toEqual(newestFirst.slice(2))
      expect(next.has_more).toBe(false)
      const all: Array<string> = []
      for await (const b of client.batches.list({ limit: 1 })) all.push(b.id)
      expect(all).toEqual(newestFirst)
      expect(await rejection(client.batches.retrieve("batch_nope"))).toBeInstanceOf(OpenAI.NotFoundError)
    })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Anthropic

describe("Anthropic message batches", () => {
  it("runs on the batch clock and returns each request's realtime message in the results", async () => {
    const clock = manualClock()
    await withServer({ batch: { now: clock.now, perRequestMs: 100, finalizingMs: 100 } }, async (server) => {
      const client = anthropic(server)
      const tool = {
        name: "classify",
        input_schema: { type: "object" as const, properties: { label: { type: "string" } }, required: ["label"] }
      }
      const params = {
        plain: messageParams("hello there", { system: "be brief" }),
        forced: messageParams("use it", { tools: [tool], tool_choice: { type: "tool", name: "classify" } }),
        stopped: messageParams("stop right there", { stop_sequences: ["right"] })
      }
      const created = await client.messages.batches.create({
        requests: Object.entries(params).map(([custom_id, p]) => ({ custom_id, params: p as never }))
      })
      expect(created).toMatchObject({
        type: "message_batch",
        processing_status: "in_progress",
        request_counts: { processing: 3, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
        ended_at: null,
        created_at: new Date(clock.start).toISOString(),
        expires_at: new Date(clock.start + 24 * 3600 * 1000).toISOString(),
        archived_at: null,
        cancel_initiated_at: null,
        results_url: null
      })
      expect(created.id).toMatch(/^msgbatch_/)
      clock.advance(200)
      expect(await client.messages.batches.retrieve(created.id)).toMatchObject({
        processing_status: "in_progress",
        request_counts: { processing: 1, succeeded: 2 }
      })
      clock.advance(100)
      expect(await client.messages.batches.retrieve(created.id)).toMatchObject({
        processing_status: "in_progress",
        request_counts: { processing: 0, succeeded: 3 }
      })
      const early = await fetch(`${server.url}/v1/messages/batches/${created.id}/results`)
      expect(early.status).toBe(400)
      clock.advance(100)
      const ended = await client.messages.batches.retrieve(created.id)
      expect(ended).toMatchObject({
        processing_status: "ended",
        ended_at: new Date(clock.start + 400).toISOString(),
        results_url: `${server.url}/v1/messages/batches/${created.id}/results`
      })
      const lines = await results(client, created.id)
      expect(lines.map((l) => l.custom_id)).toEqual(["plain", "forced", "stopped"])
      for (const line of lines) {
        const realtime = await client.messages.create(params[line.custom_id as keyof typeof params] as never)
        expect(line.result.type).toBe("succeeded")
        const message = line.result.type === "succeeded" ? line.result.message : undefined
        expect(withoutIds(message), line.custom_id).toEqual(withoutIds(realtime))
      }
    })
  })

  it("reports errored requests with the realtime error body, and injected ones as overloaded", async () => {
    const respond = (req: FakeRequest) => (req.prompt === "scripted" ? { fault: "server-error" as const } : undefined)
    await withServer({ respond, batchFaults: { errorRate: 1, errorKinds: ["overloaded"] } }, async (server) => {
      const client = anthropic(server)
      const noMax = { model: "claude-fake", messages: [{ role: "user", content: "hi" }] }
      const created = await client.messages.batches.create({
        requests: [
          { custom_id: "no-max-tokens", params: noMax as never },
          { custom_id: "scripted", params: messageParams("scripted") },
          { custom_id: "drawn", params: messageParams("drawn") }
        ]
      })
      const ended = await client.messages.batches.retrieve(created.id)
      expect(ended.request_counts).toEqual({ processing: 0, succeeded: 0, errored: 3, canceled: 0, expired: 0 })
      const realtime = await rejection(client.messages.create(noMax as never))
      const byId = new Map((await results(client, created.id)).map((r) => [r.custom_id, r.result]))
      expect(byId.get("no-max-tokens")).toEqual({
        type: "errored",
        error: {
          ...(realtime as InstanceType<typeof Anthropic.APIError>).error as Json,
          request_id: expect.any(String)
        }
      })
      expect(byId.get("scripted")).toMatchObject({ type: "errored", error: { error: { type: "api_error" } } })
      expect(byId.get("drawn")).toMatchObject({
        type: "errored",
        error: { type: "error", error: { type: "overloaded_error" } }
      })
      expect(server.batchLedger().size).toBe(0)
    })
  })

  it("cancels: canceling, then ended with the requests that did not run canceled", async () => {
    const clock = manualClock()
    await withServer({ batch: { now: clock.now, perRequestMs: 100, cancellingMs: 50 } }, async (server) => {
      const client = anthropic(server)
      const created = await client.messages.batches.create({
        requests: ["a", "b", "c"].map((custom_id) => ({ custom_id, params: messageParams(custom_id) }))
      })
      clock.advance(150)
      const canceling = await client.messages.batches.cancel(created.id)
      expect(canceling).toMatchObject({
        processing_status: "canceling",
        cancel_initiated_at: new Date(clock.start + 150).toISOString(),
        request_counts: { processing: 2, succeeded: 1 }
      })
      clock.advance(50)
      const ended = await client.messages.batches.retrieve(created.id)
      expect(ended).toMatchObject({
        processing_status: "ended",
        ended_at: new Date(clock.start + 200).toISOString(),
        request_counts: { processing: 0, succeeded: 1, canceled: 2 }
      })
      expect((await results(client, created.id)).map((r) => [r.custom_id, r.result.type])).toEqual([
        ["a", "succeeded"],
        ["b", "canceled"],
        ["c", "canceled"]
      ])
      expect(await rejection(client.messages.batches.cancel(created.id))).toBeInstanceOf(Anthropic.BadRequestError)
      expect(await client.messages.batches.delete(created.id)).toEqual({
        id: created.id,
        type: "message_batch_deleted"
      })
      expect(await rejection(client.messages.batches.retrieve(created.id))).toBeInstanceOf(Anthropic.NotFoundError)
    })
  })

  it("expires the requests a stalled batch did not run", async () => {
    const clock = manualClock()
    await withServer({ batch: { now: clock.now }, batchFaults: { expire: true } }, async (server) => {
      const client = anthropic(server)
      const created = await client.messages.batches.create({
        requests: ["a", "b"].map((custom_id) => ({ custom_id, params: messageParams(custom_id) }))
      })
      expect(await rejection(client.messages.batches.delete(created.id))).toBeInstanceOf(Anthropic.BadRequestError)
      clock.advance(24 * 3600 * 1000 - 1)
      expect((await client.messages.batches.retrieve(created.id)).processing_status).toBe("in_progress")
      clock.advance(1)
      const ended = await client.messages.batches.retrieve(created.id)
      expect(ended.request_counts).toEqual({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 2 })
      expect((await results(client, created.id)).map((r) => r.result)).toEqual([
        { type: "expired" },
        { type: "expired" }
      ])
    })
  })

  it("refuses bad batches with a 400 (ids, duplicates, size), and bodies over the byte limit with a 413", async () => {
    await withServer({ batch: { anthropicMaxRequests: 2, anthropicMaxBytes: 2_000 } }, async (server) => {
      const client = anthropic(server)
      const create = (ids: ReadonlyArray<string>) =>
        client.messages.batches.create({
          requests: ids.map((custom_id) => ({ custom_id, params: messageParams("x") }))
        })
      for (const ids of [["has space"], ["x".repeat(65)], ["dup", "dup"], ["a", "b", "c"], []]) {
        const error = await rejection(create(ids))
        expect(error, JSON.stringify(ids)).toBeInstanceOf(Anthropic.BadRequestError)
        expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
          type: "error",
          error: { type: "invalid_request_error" }
        })
      }
      const fine = await create(["ok_1", "OK-2"])
      expect(fine.request_counts.processing).toBe(2)
      const big = await rejection(
        client.messages.batches.create({
          requests: [{ custom_id: "big", params: messageParams("y".repeat(3_000)) }]
        })
      )
      expect(big).toMatchObject({ status: 413 })
      expect(server.stats.batches.batchesCreated).toBe(1)
    })
  })

  it("lists message batches newest first with after_id and before_id", async () => {
    await withServer({}, async (server) => {
      const client = anthropic(server)
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        ids.push(
          (await client.messages.batches.create({ requests: [{ custom_id: `r${i}`, params: messageParams("x") }] })).id
        )
      }
      const newestFirst = ids.slice().reverse()
      const page = await client.messages.batches.list({ limit: 2 })
      expect(page.data.map((b) => b.id)).toEqual(newestFirst.slice(0, 2))
      expect([page.has_more, page.first_id, page.last_id]).toEqual([true, newestFirst[0], newestFirst[1]])
      const after = await client.messages.batches.list({ limit: 2, after_id: newestFirst[1]! })
      expect(after.data.map((b) => b.id)).toEqual([newestFirst[2]])
      expect(after.has_more).toBe(false)
      const before = await client.messages.batches.list({ limit: 1, before_id: newestFirst[2]! })
      expect(before.data.map((b) => b.id)).toEqual([newestFirst[1]])
      const all: Array<string> = []
      for await (const b of client.messages.batches.list({ limit: 1 })) all.push(b.id)
      expect(all).toEqual(newestFirst)
    })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Both

describe("batch bookkeeping", () => {
  it("keeps a ledger of paid (provider, custom_id, model), counting resubmissions, and reset() clears it", async () => {
    const clock = manualClock()
    const options = { seed: 3, batch: { now: clock.now, perRequestMs: 10 }, batchFaults: { errorRate: 0.5 } }
    await withServer(options, async (server) => {
      const oa = openai(server)
      const an = anthropic(server)
      const lines = Array.from({ length: 20 }, (_, i) => chatLine(`item-${i}`))
      const first = await submit(oa, lines)
      clock.advance(100)
      // the ledger runs what is due, and only that
      const midway = server.batchLedger()
      const counted = [...midway.values()].reduce((a, b) => a + b, 0)
      expect(server.stats.batches.requestsProcessed).toBe(10)
      expect(counted).toBe(server.stats.batches.requestsSucceeded)
      clock.advance(100)
      const done = await oa.batches.retrieve(first.id)
      const failed = (await readJsonl(oa, done.error_file_id)).map((l) => l["custom_id"] as string)
      expect(failed.length).toBeGreaterThan(0)
      const ledger = server.batchLedger()
      expect(ledger.size).toBe(20 - failed.length)
      for (const id of failed) expect(ledger.has(batchLedgerKey("openai", id, "gpt-fake"))).toBe(false)
      // resubmitting every item: the ones already paid are paid a second time
      await submit(oa, lines)
      await an.messages.batches.create({ requests: [{ custom_id: "item-0", params: messageParams("x") }] })
      clock.advance(1_000)
      const again = server.batchLedger()
      const twice = [...again.entries()].filter(([, n]) => n === 2).map(([k]) => k)
      expect(twice.length).toBeGreaterThan(0)
      expect(twice.every((k) => k.startsWith("openai|gpt-fake|"))).toBe(true)
      expect([...again.keys()].filter((k) => k.startsWith("anthropic|")).length).toBeLessThanOrEqual(1)
      expect(server.stats.batches).toMatchObject({ filesUploaded: 2, batchesCreated: 3, requestsProcessed: 41 })
      server.reset()
      expect(server.batchLedger().size).toBe(0)
      expect(server.stats.batches).toEqual({
        filesUploaded: 0,
        batchesCreated: 0,
        requestsProcessed: 0,
        requestsSucceeded: 0,
        requestsErrored: 0
      })
      expect(await rejection(oa.batches.retrieve(first.id))).toBeInstanceOf(OpenAI.NotFoundError)
    })
  })

  it("serves 20 000 requests a batch without trouble", async () => {
    await withServer({ logRequests: false }, async (server) => {
      const client = openai(server)
      const lines = Array.from({ length: 20_000 }, (_, i) => chatLine(`r${i}`))
      const done = await client.batches.retrieve((await submit(client, lines)).id)
      expect(done.request_counts).toEqual({ total: 20_000, completed: 20_000, failed: 0 })
      const out = await readJsonl(client, done.output_file_id)
      expect(out).toHaveLength(20_000)
      expect(out[19_999]).toMatchObject({ custom_id: "r19999" })
      expect(server.batchLedger().size).toBe(20_000)
    })
  })

  it("serves the batch endpoints in stand-alone mode, with the timing flags", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/support/FakeProvider.ts", "--port", "0", "--batch-validating", "1500"],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    try {
      const lines = createInterface({ input: child.stdout })
      const [first] = (await once(lines, "line")) as [string]
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(first)![1]!
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "sk-test", maxRetries: 0 })
      const created = await submit(client, [chatLine("a")])
      expect((await client.batches.retrieve(created.id)).status).toBe("validating")
      let status = ""
      for (let i = 0; i < 100 && status !== "completed"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        status = (await client.batches.retrieve(created.id)).status
      }
      expect(status).toBe("completed")
    } finally {
      child.kill()
    }
  })
})
