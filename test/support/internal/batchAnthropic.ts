/**
 * Anthropic's Message Batches API: `POST /v1/messages/batches`, `GET /v1/messages/batches`,
 * `GET|DELETE /v1/messages/batches/{id}`, `POST /v1/messages/batches/{id}/cancel` and
 * `GET /v1/messages/batches/{id}/results` (JSONL), with the objects shaped as in the API reference.
 *
 * The requests are checked when the batch is created (ids, count, size), as the real API does; each request's
 * `params` only when it runs, so a bad one ends `errored` in the results rather than refusing the batch.
 * @module
 */
import {
  type BatchHttp,
  chunked,
  invalid,
  newestFirstPage,
  notFound,
  pageLimit,
  rfc3339,
  type Route,
  sendError,
  sendJson
} from "./batchHttp.js"
import { type BatchContext, type BatchRun, isTerminal, type Phase, RequestTable } from "./batchRun.js"
import { errorBody, type ErrorSpec, statusError } from "./errors.js"
import { isRecord } from "./wire.js"

const MIB = 1024 * 1024
const DEFAULT_MAX_REQUESTS = 100_000
const DEFAULT_MAX_BYTES = 256 * MIB
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/

interface AnthropicBatch {
  readonly id: string
  readonly run: BatchRun
}

export class AnthropicBatches {
  private batches = new Map<string, AnthropicBatch>()

  constructor(private readonly ctx: BatchContext) {}

  get runs(): Iterable<BatchRun> {
    return [...this.batches.values()].map((b) => b.run)
  }

  reset(): void {
    this.batches.clear()
  }

  route(method: string, path: string): Route | undefined {
    const [, v1, messages, batches, id, action, ...rest] = path.split("/")
    if (v1 !== "v1" || messages !== "messages" || batches !== "batches" || rest.length > 0) return undefined
    if (id === undefined) {
      if (method === "POST") {
        const maxBodyBytes = this.ctx.options()?.anthropicMaxBytes ?? DEFAULT_MAX_BYTES
        return { handle: (http, t) => this.create(http, t), maxBodyBytes }
      }
      return method === "GET" ? { handle: (http, t) => this.list(http, t) } : undefined
    }
    const key = decodeURIComponent(id)
    if (action === "cancel") return method === "POST" ? { handle: (http, t) => this.cancel(http, t, key) } : undefined
    if (action === "results") return method === "GET" ? { handle: (http, t) => this.results(http, t, key) } : undefined
    if (action !== undefined) return undefined
    if (method === "GET") {
      return { handle: (http, t) => this.withBatch(http, key, (b) => sendJson(http, 200, this.render(http, b, t))) }
    }
    return method === "DELETE" ? { handle: (http, t) => this.delete(http, t, key) } : undefined
  }

  private create(http: BatchHttp, t: number): void {
    if (http.tooLarge) return fail(http, statusError(413, "Request exceeds the maximum allowed number of bytes."))
    const body = http.json
    if (!isRecord(body)) {
      return fail(http, invalid("We could not parse the JSON body of your request. The body must be a JSON object."))
    }
    const checked = checkRequests(body["requests"], this.ctx.options()?.anthropicMaxRequests ?? DEFAULT_MAX_REQUESTS)
    if ("status" in checked) return fail(http, checked)
    const id = this.ctx.newId("msgbatch_fake")
    const run = this.ctx.startRun({
      provider: "anthropic",
      api: "anthropic",
      id,
      createdAt: t,
      table: RequestTable.fromBodies(checked.customIds, checked.params),
      refused: false,
      headers: http.headers
    })
    const batch: AnthropicBatch = { id, run }
    this.batches.set(id, batch)
    sendJson(http, 200, this.render(http, batch, t, "in_progress"))
  }

  private list(http: BatchHttp, t: number): void {
    const limit = pageLimit(http.query, 20, 1000)
    if (limit === undefined) return fail(http, invalid("limit: Input should be between 1 and 1000"))
    const page = newestFirstPage([...this.batches.values()], limit, {
      after: http.query.get("after_id") ?? undefined,
      before: http.query.get("before_id") ?? undefined
    })
    const data = page.data.map((b) => this.render(http, b, t))
    sendJson(http, 200, {
      data,
      has_more: page.hasMore,
      first_id: page.data[0]?.id ?? null,
      last_id: page.data[page.data.length - 1]?.id ?? null
    })
  }

  private withBatch(http: BatchHttp, id: string, found: (batch: AnthropicBatch) => void): void {
    const batch = this.batches.get(id)
    if (batch === undefined) return fail(http, notFound(`No message batch found with id '${id}'.`))
    found(batch)
  }

  private cancel(http: BatchHttp, t: number, id: string): void {
    this.withBatch(http, id, (batch) => {
      const phase = batch.run.phase(t)
      if (isTerminal(phase)) {
        return fail(http, invalid(`Message batch ${id} has already ended and can no longer be canceled.`))
      }
      if (phase !== "cancelling") batch.run.cancelAt = t
      sendJson(http, 200, this.render(http, batch, t, "cancelling"))
    })
  }

  private delete(http: BatchHttp, t: number, id: string): void {
    this.withBatch(http, id, (batch) => {
      if (!isTerminal(batch.run.phase(t))) {
        return fail(
          http,
          invalid(`Message batch ${id} is still in progress; cancel it and wait until it has ended to delete it.`)
        )
      }
      this.batches.delete(id)
      sendJson(http, 200, { id, type: "message_batch_deleted" })
    })
  }

  private results(http: BatchHttp, t: number, id: string): void {
    this.withBatch(http, id, (batch) => {
      if (!isTerminal(batch.run.phase(t))) {
        return fail(
          http,
          invalid(`Message batch ${id} has not ended yet; its results are available once processing_status is 'ended'.`)
        )
      }
      http.stream(200, "application/x-jsonl", chunked(resultLines(batch.run)))
    })
  }

  /** The MessageBatch at `t`; `shown` replaces the phase of a batch just created or canceled. */
  private render(http: BatchHttp, batch: AnthropicBatch, t: number, shown?: Phase): unknown {
    const run = batch.run
    const phase = shown ?? run.phase(t)
    const ended = isTerminal(phase) ? run.endedAt(phase) : undefined
    const unrun = run.total - run.processed
    return {
      id: batch.id,
      type: "message_batch",
      processing_status: ended !== undefined ? "ended" : phase === "cancelling" ? "canceling" : "in_progress",
      request_counts: {
        processing: ended === undefined ? unrun : 0,
        succeeded: run.succeeded,
        errored: run.errored,
        canceled: phase === "cancelled" ? unrun : 0,
        expired: phase === "expired" ? unrun : 0
      },
      ended_at: ended === undefined ? null : rfc3339(ended),
      created_at: rfc3339(run.createdAt),
      expires_at: rfc3339(run.expiresAt),
      archived_at: null,
      cancel_initiated_at: run.cancelAt === undefined ? null : rfc3339(run.cancelAt),
      results_url: ended === undefined ? null : `${http.origin}/v1/messages/batches/${batch.id}/results`
    }
  }
}

/** One line per request, in the order they were sent, with the realtime message or error body each one got. */
function* resultLines(run: BatchRun): Generator<string> {
  for (let i = 0; i < run.total; i++) {
    // Results exist once the batch has ended, and an ended batch's phase no longer changes.
    const result = run.result(i, Number.POSITIVE_INFINITY)
    const custom_id = run.table.customIds[i]
    switch (result.kind) {
      case "succeeded":
        yield JSON.stringify({ custom_id, result: { type: "succeeded", message: result.body } })
        break
      case "errored": {
        const error = errorBody("anthropic", result.spec, `req_fakebatch${run.seqOf(i)}`)
        yield JSON.stringify({ custom_id, result: { type: "errored", error } })
        break
      }
      case "cancelled":
        yield JSON.stringify({ custom_id, result: { type: "canceled" } })
        break
      case "expired":
        yield JSON.stringify({ custom_id, result: { type: "expired" } })
        break
      case "pending":
        break
    }
  }
}

const fail = (http: BatchHttp, spec: ErrorSpec): void => sendError(http, "anthropic", spec)

/** The checks the API makes when a batch is created: a non-empty list, valid and unique custom ids, object params. */
const checkRequests = (
  requests: unknown,
  maxRequests: number
): ErrorSpec | { readonly customIds: ReadonlyArray<string>; readonly params: ReadonlyArray<unknown> } => {
  if (!Array.isArray(requests)) return invalid("requests: Field required", "requests")
  if (requests.length === 0) return invalid("requests: List should have at least 1 item after validation, not 0")
  if (requests.length > maxRequests) {
    return invalid(`requests: List should have at most ${maxRequests} items after validation, not ${requests.length}`)
  }
  const customIds: Array<string> = []
  const params: Array<unknown> = []
  const seen = new Set<string>()
  for (let i = 0; i < requests.length; i++) {
    const request: unknown = requests[i]
    const at = `requests.${i}`
    if (!isRecord(request)) return invalid(`${at}: Input should be a valid dictionary`)
    const customId = request["custom_id"]
    if (typeof customId !== "string" || !CUSTOM_ID.test(customId)) {
      return invalid(`${at}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`)
    }
    if (seen.has(customId)) {
      return invalid(
        `${at}.custom_id: Duplicate custom_id '${customId}'. Each request in a batch needs a unique custom_id.`
      )
    }
    seen.add(customId)
    if (!isRecord(request["params"])) return invalid(`${at}.params: Field required`)
    customIds.push(customId)
    params.push(request["params"])
  }
  return { customIds, params }
}
