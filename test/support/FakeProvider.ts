/**
 * Loopback fake of the OpenAI and Anthropic HTTP APIs, for tests and benchmarks.
 *
 * Speaks enough of `POST /v1/chat/completions`, `POST /v1/completions` and `POST /v1/messages` for the real `openai` and
 * `@anthropic-ai/sdk` clients (point their `baseURL` at {@link FakeProviderServer.openaiBaseUrl} /
 * {@link FakeProviderServer.anthropicBaseUrl}), with provider-shaped rate limiting and headers, scriptable answers,
 * deterministic (seeded) fault injection, latency, counters and a request log. Binds 127.0.0.1 only. The batch APIs
 * (OpenAI `/v1/files` + `/v1/batches`, Anthropic `/v1/messages/batches`) live in `internal/batches.ts`.
 *
 * ```ts
 * const server = await FakeProvider.start({ rpm: 600, latencyMs: 20 })
 * const client = new OpenAI({ baseURL: server.openaiBaseUrl, apiKey: "sk-test", maxRetries: 0 })
 * await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] }) // "echo: hi"
 * await server.close()
 * ```
 * See `test/support/README.md` for the full behaviour.
 * @module
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import {
  answerBody,
  checkCall,
  fakeRequest,
  isErrorSpec,
  type Outcome,
  scriptedOutcome,
  tokenCost
} from "./internal/answering.js"
import { BatchService, type Route } from "./internal/batches.js"
import type { BatchHttp } from "./internal/batchHttp.js"
import { errorBody, type ErrorSpec, faultError, rateLimitError, statusError } from "./internal/errors.js"
import {
  anthropicLimitHeaders,
  type HeaderMap,
  type HeaderStyle,
  type LimitViews,
  openaiLimitHeaders,
  RateLimiter,
  retryAfterHeaders
} from "./internal/rateLimiter.js"
import {
  anthropicEvents,
  malformedFrame,
  openaiChatEvents,
  overloadedFrame,
  type StreamEnd,
  writeFrames
} from "./internal/streaming.js"
import { FAULT_KINDS } from "./internal/types.js"
import type {
  ApiKind,
  FakeBatchFaults,
  FakeBatchOptions,
  FakeBatchStats,
  FakeReply,
  FakeRequest,
  FaultKind
} from "./internal/types.js"
import { isRecord } from "./internal/wire.js"
import { type Answer, defaultAnswer, type ParsedCall } from "./internal/wire.js"

export { batchLedgerKey } from "./internal/batches.js"
export { sampleFromSchema } from "./internal/jsonSchemaSample.js"
export { IMAGE_TOKENS } from "./internal/messages.js"
export { formatGoDuration, formatRfc3339 } from "./internal/rateLimiter.js"
export type { HeaderStyle } from "./internal/rateLimiter.js"
export { FAULT_KINDS } from "./internal/types.js"
export type {
  ApiKind,
  BatchErrorKind,
  BatchProvider,
  FakeBatchFaults,
  FakeBatchOptions,
  FakeBatchRef,
  FakeBatchStats,
  FakeError,
  FakeMessage,
  FakeReply,
  FakeReplyToolCall,
  FakeRequest,
  FakeToolCall,
  FakeToolResult,
  FaultKind
} from "./internal/types.js"

// ---------------------------------------------------------------------------------------------------------------------
// Options, stats, log

/** Random fault injection: each admitted request fails with probability `rate`, with a kind drawn uniformly from `kinds`. */
export interface FaultConfig {
  readonly rate: number
  readonly kinds: ReadonlyArray<FaultKind>
}

/** Behaviour that can be changed at runtime with {@link FakeProviderServer.configure}. `undefined` restores the default. */
export interface FakeProviderConfig {
  /** Requests per minute (unlimited when unset). */
  readonly rpm?: number | undefined
  /** Tokens per minute (unlimited when unset). A request costs `prompt estimate + n × (max_tokens ?? answer estimate)`. */
  readonly tpm?: number | undefined
  /** Seconds of capacity available at once (bucket size = limit × burst / 60). Default 1, like the providers' per-second quantization. */
  readonly burst?: number | undefined
  /** A refused request still consumes a request slot (each 429 then costs 60/rpm s). Default false. */
  readonly chargeRejected?: boolean | undefined
  /** Send the `x-ratelimit-*` / `anthropic-ratelimit-*` headers. Default true (only for configured limits). */
  readonly rateLimitHeaders?: boolean | undefined
  /**
   * What those headers mean: `remaining` per minute or on the burst scale, the view at admission or when the
   * answer is sent, `reset` until full or until the next unit. Default (and each field's default): the
   * providers' documented per-minute view, at admission, reset until full.
   */
  readonly rateLimitHeaderStyle?: HeaderStyle | undefined
  /** Fixed delay before answering an admitted request, in ms. Default 0 (answer synchronously). Limiter 429s are never delayed. */
  readonly latencyMs?: number | undefined
  /** Extra uniformly random delay in `[0, jitterMs)`, drawn from the seeded PRNG. Default 0. */
  readonly jitterMs?: number | undefined
  /** Random faults. Default none. */
  readonly faults?: FaultConfig | undefined
  /** Seed of the PRNGs behind faults and jitter; same seed + same arrival order = same faults. Default 1. */
  readonly seed?: number | undefined
  /** Scripted answers; return undefined for the deterministic default (`echo: <last user text>`, schema instance, forced tool). */
  readonly respond?: ((request: FakeRequest) => string | FakeReply | undefined) | undefined
  /** Keep a request log: true = everything (default), false = nothing, a number = the most recent N entries. */
  readonly logRequests?: boolean | number | undefined
  /** Larger request bodies get 413. Default 32 MiB (Anthropic's limit). Batch uploads have their own limits. */
  readonly maxBodyBytes?: number | undefined
  /** Batch lifecycle timings, clock and limits (OpenAI Batch API, Anthropic Message Batches). */
  readonly batch?: FakeBatchOptions | undefined
  /** Per-request errors and expiry of batches (the realtime `faults` do not touch batch requests). */
  readonly batchFaults?: FakeBatchFaults | undefined
  /**
   * Prompt tokens reported as read from the prompt cache (at most the request's prompt tokens): OpenAI
   * `usage.prompt_tokens_details.cached_tokens` (chat), Anthropic `usage.cache_read_input_tokens` (its
   * `input_tokens` then counts only the rest). Default 0.
   */
  readonly cachedPromptTokens?: number | undefined
  /**
   * The order of `choices` in OpenAI answers: by `index` (default, as the API answers) or reversed, to check that a
   * client places choices by their `index`, not their position.
   */
  readonly choiceOrder?: "index" | "reversed" | undefined
  /** Characters of text (or tool-call arguments) per event of a streamed answer (`stream: true`). Default 4. */
  readonly streamChunkChars?: number | undefined
  /** Milliseconds between the events of a streamed answer. Default 0 (all at once). */
  readonly streamChunkDelayMs?: number | undefined
}

/** Options of {@link FakeProvider.start}. */
export interface FakeProviderOptions extends FakeProviderConfig {
  /** Port on 127.0.0.1; default 0 (random free port). */
  readonly port?: number | undefined
}

/** Counters since start / `reset()`. A snapshot: later requests do not change it. */
export interface FakeProviderStats {
  /** Every HTTP request received, including unknown paths. */
  readonly requests: number
  readonly byApi: Readonly<Record<ApiKind, number>>
  /** HTTP statuses written (a `reset`/`hang` writes none; `truncated`/`malformed`/`reset-after-headers` count as 200). */
  readonly byStatus: Readonly<Record<number, number>>
  /** 429s produced by the rate limiter (forced `rate-limit`/`quota` faults are counted under `faults`). */
  readonly rateLimited: number
  /** Injected faults by kind (queued, scripted and random alike). */
  readonly faults: Readonly<Partial<Record<FaultKind, number>>>
  /** Sum of the token costs of admitted requests. */
  readonly tokensCharged: number
  /** Requests whose connection is still open. */
  readonly inFlight: number
  readonly peakInFlight: number
  /** Batch counters. Reading them first runs the batch requests whose turn has come on the batch clock. */
  readonly batches: FakeBatchStats
  /**
   * Streamed answers by how they ended: every event sent, the client closed the connection first, or the server cut
   * it (a fault).
   */
  readonly streams: Readonly<Record<StreamEnd, number>>
}

/** One logged request. `status`/`fault`/`answeredAt` fill in once it is answered. */
export interface FakeRequestLogEntry {
  readonly seq: number
  readonly api: ApiKind | undefined
  readonly method: string
  readonly path: string
  /** Parsed JSON body (undefined when the body was not JSON). */
  readonly body: unknown
  /** Headers as received, credentials (`authorization`, `x-api-key`) included. */
  readonly headers: http.IncomingHttpHeaders
  /** `Date.now()` at arrival. */
  readonly receivedAt: number
  /** Status written, or undefined (not answered yet, hang, reset). */
  readonly status: number | undefined
  readonly fault: FaultKind | undefined
  readonly answeredAt: number | undefined
}

/** A running fake provider. */
export interface FakeProviderServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  /** `${url}/v1` — the OpenAI SDK's `baseURL`. */
  readonly openaiBaseUrl: string
  /** `${url}` — the Anthropic SDK's `baseURL` (it appends `/v1/messages`). */
  readonly anthropicBaseUrl: string
  readonly stats: FakeProviderStats
  /** Logged requests, oldest first (a copy). */
  readonly requests: ReadonlyArray<FakeRequestLogEntry>
  /** Changes behaviour for requests arriving from now on; limits keep their current deficit. */
  readonly configure: (config: FakeProviderConfig) => void
  /** The next `count` (default 1) requests admitted by the rate limiter fail with `kind`. */
  readonly failNext: (kind: FaultKind, count?: number) => void
  /**
   * How many times each batch request succeeded (was paid for), by {@link batchLedgerKey}`(provider, custom_id,
   * model)`: a request resubmitted in a later batch counts again. Reading it first runs the batch requests whose turn
   * has come on the batch clock. A copy.
   */
  readonly batchLedger: () => ReadonlyMap<string, number>
  /** Clears counters, log, the failNext queue and every file and batch; refills the buckets; reseeds the PRNGs. */
  readonly reset: () => void
  /** Stops listening and destroys every open connection (hanging requests included). Idempotent. */
  readonly close: () => Promise<void>
}

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers

const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

const ROUTES: Readonly<Record<string, ApiKind>> = {
  "/v1/chat/completions": "openai-chat",
  "/v1/completions": "openai-completion",
  "/v1/messages": "anthropic"
}

/** mulberry32: tiny, fast, good enough for reproducible fault schedules. */
const makePrng = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface MutableLogEntry {
  seq: number
  api: ApiKind | undefined
  method: string
  path: string
  body: unknown
  headers: http.IncomingHttpHeaders
  receivedAt: number
  status: number | undefined
  fault: FaultKind | undefined
  answeredAt: number | undefined
}

/** Bounded log: a ring buffer once `max` is reached, so a 100k-request benchmark can keep only the tail. */
class RequestLog {
  private entries: Array<MutableLogEntry> = []
  private head = 0
  private max: number

  constructor(max: number) {
    this.max = max
  }

  get enabled(): boolean {
    return this.max > 0
  }

  add(entry: MutableLogEntry): void {
    if (this.max <= 0) return
    if (this.entries.length < this.max) this.entries.push(entry)
    else {
      this.entries[this.head] = entry
      this.head = (this.head + 1) % this.max
    }
  }

  toArray(): Array<MutableLogEntry> {
    return this.head === 0
      ? this.entries.slice()
      : [...this.entries.slice(this.head), ...this.entries.slice(0, this.head)]
  }

  resize(max: number): void {
    const kept = this.toArray()
    this.max = max
    this.entries = max <= 0 ? [] : kept.slice(Math.max(0, kept.length - max))
    this.head = 0
  }

  clear(): void {
    this.entries = []
    this.head = 0
  }
}

/** The fault and jitter PRNGs: two separate streams from one seed (default 1). */
interface Rngs {
  readonly fault: () => number
  readonly jitter: () => number
}

const seeded = (seed = 1): Rngs => ({ fault: makePrng(seed), jitter: makePrng(seed ^ 0x9e3779b9) })

const logCapacity = (option: boolean | number | undefined): number =>
  option === undefined || option === true ? Number.POSITIVE_INFINITY : option === false ? 0 : Math.max(0, option)

interface Counters {
  requests: number
  byApi: Record<ApiKind, number>
  byStatus: Record<number, number>
  rateLimited: number
  faults: Partial<Record<FaultKind, number>>
  tokensCharged: number
  peakInFlight: number
  streams: Record<StreamEnd, number>
}

const emptyCounters = (inFlight: number): Counters => ({
  requests: 0,
  byApi: { "openai-chat": 0, "openai-completion": 0, anthropic: 0 },
  byStatus: {},
  rateLimited: 0,
  faults: {},
  tokensCharged: 0,
  peakInFlight: inFlight,
  streams: { complete: 0, "cut-by-client": 0, dropped: 0 }
})

// ---------------------------------------------------------------------------------------------------------------------
// The server

/** Per-request context shared by the send helpers. */
interface Exchange {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  /** URL path without the query string. */
  readonly path: string
  readonly api: ApiKind | undefined
  /** The batch endpoint the request is for, if any. */
  readonly route: Route | undefined
  readonly seq: number
  readonly receivedAt: number
  entry: MutableLogEntry | undefined
  views: LimitViews | undefined
  /** Scripted latency (`FakeReply.latencyMs`), overriding the configured one. */
  latencyMs: number | undefined
  extraHeaders: Readonly<Record<string, string>> | undefined
  closed: boolean
  timer: ReturnType<typeof setTimeout> | undefined
  /** A streamed call asked for a last usage chunk (OpenAI `stream_options.include_usage`). */
  streamUsage: boolean
}

class Provider {
  private config: FakeProviderConfig
  private limiter: RateLimiter
  private log: RequestLog
  private rng: Rngs
  private counters = emptyCounters(0)
  // Outside `counters` so a `reset()` while requests are open cannot unbalance it.
  private inFlight = 0
  private seq = 0
  private queued: Array<{ kind: FaultKind; left: number }> = []
  private readonly batches = new BatchService(() => this.config)

  constructor(options: FakeProviderConfig) {
    this.config = { ...options }
    this.limiter = new RateLimiter(this.limits(), Date.now())
    this.log = new RequestLog(logCapacity(options.logRequests))
    this.rng = seeded(options.seed)
  }

  private limits() {
    return {
      rpm: this.config.rpm,
      tpm: this.config.tpm,
      burst: this.config.burst ?? 1,
      chargeRejected: this.config.chargeRejected ?? false
    }
  }

  // --- control plane ---------------------------------------------------------------------------------------------

  configure(patch: FakeProviderConfig): void {
    this.config = { ...this.config, ...patch }
    if ("rpm" in patch || "tpm" in patch || "burst" in patch || "chargeRejected" in patch) {
      this.limiter.reconfigure(this.limits(), Date.now())
    }
    if ("logRequests" in patch) this.log.resize(logCapacity(patch.logRequests))
    if ("seed" in patch) this.reseed()
  }

  failNext(kind: FaultKind, count = 1): void {
    if (count > 0) this.queued.push({ kind, left: count })
  }

  reset(): void {
    this.counters = emptyCounters(this.inFlight)
    this.seq = 0
    this.queued = []
    this.log.clear()
    this.limiter = new RateLimiter(this.limits(), Date.now())
    this.reseed()
    this.batches.reset()
  }

  private reseed(): void {
    this.rng = seeded(this.config.seed)
  }

  stats(): FakeProviderStats {
    const c = this.counters
    return {
      ...c,
      inFlight: this.inFlight,
      byApi: { ...c.byApi },
      byStatus: { ...c.byStatus },
      faults: { ...c.faults },
      streams: { ...c.streams },
      batches: this.batches.stats()
    }
  }

  batchLedger(): ReadonlyMap<string, number> {
    return this.batches.ledger()
  }

  requests(): ReadonlyArray<FakeRequestLogEntry> {
    return this.log.toArray().map((e) => ({ ...e }))
  }

  // --- request path ----------------------------------------------------------------------------------------------

  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const counters = this.counters
    counters.requests++
    this.inFlight++
    if (this.inFlight > counters.peakInFlight) counters.peakInFlight = this.inFlight
    const url = req.url ?? "/"
    const q = url.indexOf("?")
    const path = q < 0 ? url : url.slice(0, q)
    const api = req.method === "POST" ? ROUTES[path] : undefined
    const route = api === undefined ? this.batches.route(req.method ?? "", path) : undefined
    const ex: Exchange = {
      req,
      res,
      path,
      api,
      route,
      seq: this.seq++,
      receivedAt: Date.now(),
      entry: undefined,
      views: undefined,
      latencyMs: undefined,
      extraHeaders: undefined,
      closed: false,
      timer: undefined,
      streamUsage: false
    }
    res.once("close", () => {
      ex.closed = true
      if (ex.timer !== undefined) clearTimeout(ex.timer)
      this.inFlight--
    })
    req.on("error", () => {}) // client vanished mid-body; the close handler cleans up
    const max = route?.maxBodyBytes ?? this.config.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    this.readBody(req, max, (body, tooLarge) => this.onBody(ex, body, tooLarge))
  }

  private readBody(req: http.IncomingMessage, max: number, done: (body: Buffer, tooLarge: boolean) => void): void {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= max) chunks.push(chunk)
    })
    req.on("end", () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), size > max))
  }

  private onBody(ex: Exchange, raw: Buffer, tooLarge: boolean): void {
    const { api, path, route } = ex
    // A file upload is multipart, and may be hundreds of MB: not worth a JSON.parse that must fail.
    const json = route === undefined || (ex.req.headers["content-type"] ?? "").includes("json")
    let body: unknown
    try {
      body = tooLarge || raw.length === 0 || !json ? undefined : JSON.parse(raw.toString("utf8"))
    } catch {
      body = undefined
    }
    if (this.log.enabled) {
      const entry: MutableLogEntry = {
        seq: ex.seq,
        api,
        method: ex.req.method ?? "",
        path,
        body,
        headers: ex.req.headers,
        receivedAt: ex.receivedAt,
        status: undefined,
        fault: undefined,
        answeredAt: undefined
      }
      this.log.add(entry)
      ex.entry = entry
    }
    if (route !== undefined) return this.batches.handle(route, this.batchHttp(ex, raw, body, tooLarge))
    if (api === undefined) {
      return this.sendError(ex, statusError(404, `Invalid URL (${ex.req.method} ${path})`), apiForPath(path))
    }
    this.counters.byApi[api]++
    if (tooLarge) return this.sendError(ex, faultError("too-large", { model: "", promptTokens: 0 })!)
    const call = checkCall(api, body)
    if (isErrorSpec(call)) return this.sendError(ex, call)
    this.admit(ex, call, body as Readonly<Record<string, unknown>>)
  }

  /** Rate-limits, decides the outcome, then answers after the configured latency. */
  private admit(ex: Exchange, call: ParsedCall, params: Readonly<Record<string, unknown>>): void {
    const defaults = call.prompts.map((p) => defaultAnswer(call, p))
    const cost = tokenCost(call, defaults)
    const now = Date.now()
    if (!this.limiter.unlimited) {
      const admission = this.limiter.admit(cost, now)
      if (this.config.rateLimitHeaders !== false) ex.views = this.limiter.view(now, this.headerStyle())
      if (!admission.admitted) {
        this.counters.rateLimited++
        const spec = rateLimitError({
          model: call.model,
          dimension: admission.dimension,
          view: ex.views?.[admission.dimension],
          requested: admission.dimension === "requests" ? 1 : cost,
          waitMs: admission.waitMs,
          tooLarge: admission.tooLarge
        })
        return this.sendError(ex, spec, ex.api, admission.tooLarge ? undefined : admission.waitMs)
      }
    }
    this.counters.tokensCharged += cost
    const streamOptions = params["stream_options"]
    ex.streamUsage = isRecord(streamOptions) && streamOptions["include_usage"] === true
    const outcome = this.decide(ex, call, params, defaults)
    if (outcome.kind === "fault") this.countFault(ex, outcome.fault)
    const delay = this.delayFor(ex, outcome)
    const deliver = () => this.deliver(ex, call, outcome)
    if (delay <= 0) deliver()
    else ex.timer = setTimeout(deliver, delay)
  }

  /** Precedence: failNext queue > `respond` (fault, error, toolInput, text) > random fault > default answer. */
  private decide(
    ex: Exchange,
    call: ParsedCall,
    params: Readonly<Record<string, unknown>>,
    defaults: ReadonlyArray<Answer>
  ): Outcome {
    const random = this.drawRandomFault()
    const queued = this.takeQueuedFault()
    if (queued !== undefined) return { kind: "fault", fault: queued }
    const outcome = scriptedOutcome(
      call,
      defaults,
      this.config.respond,
      (promptIndex) => fakeRequest({ seq: ex.seq, path: ex.path, headers: ex.req.headers }, call, params, promptIndex),
      (reply) => {
        if (reply.latencyMs !== undefined) ex.latencyMs = reply.latencyMs
        if (reply.headers !== undefined) ex.extraHeaders = { ...ex.extraHeaders, ...reply.headers }
      }
    )
    if (outcome.kind !== "answer") return outcome
    if (random !== undefined) return { kind: "fault", fault: random }
    return outcome
  }

  // Drawn for every admitted request (even when a script overrides it) so the schedule depends only on arrival order.
  private drawRandomFault(): FaultKind | undefined {
    const faults = this.config.faults
    if (faults === undefined || faults.rate <= 0 || faults.kinds.length === 0) return undefined
    const hit = this.rng.fault() < faults.rate
    const pick = this.rng.fault()
    return hit ? faults.kinds[Math.floor(pick * faults.kinds.length)] : undefined
  }

  private countFault(ex: Exchange, fault: FaultKind): void {
    this.counters.faults[fault] = (this.counters.faults[fault] ?? 0) + 1
    if (ex.entry !== undefined) ex.entry.fault = fault
  }

  private takeQueuedFault(): FaultKind | undefined {
    const head = this.queued[0]
    if (head === undefined) return undefined
    if (--head.left <= 0) this.queued.shift()
    return head.kind
  }

  private delayFor(ex: Exchange, outcome: Outcome): number {
    if (outcome.kind === "fault" && outcome.fault === "hang") return 0
    const jitter = this.config.jitterMs ?? 0
    const base = ex.latencyMs ?? this.config.latencyMs ?? 0
    return base + (jitter > 0 ? this.rng.jitter() * jitter : 0)
  }

  private deliver(ex: Exchange, call: ParsedCall, outcome: Outcome): void {
    ex.timer = undefined
    if (ex.closed) return
    if (outcome.kind === "error") return this.sendError(ex, outcome.spec)
    if (outcome.kind === "answer") return this.sendAnswer(ex, call, outcome.answers, false)
    const fault = outcome.fault
    switch (fault) {
      case "hang":
        return
      case "reset":
        ex.req.socket.destroy()
        return
      case "content-filter":
        return this.sendAnswer(ex, call, [], true)
      case "reset-after-headers":
      case "truncated":
      case "malformed":
        return this.sendBroken(ex, call, fault)
      case "overloaded":
        // Anthropic reports overload mid-stream, as an `error` event after the 200.
        if (call.stream && call.api === "anthropic") return this.sendStream(ex, call, [], false, fault)
        return this.sendError(ex, faultError(fault, { model: call.model, promptTokens: call.promptTokens[0] ?? 0 })!)
      default: {
        const spec = faultError(fault, { model: call.model, promptTokens: call.promptTokens[0] ?? 0 })!
        return this.sendError(ex, spec, ex.api, fault === "rate-limit" ? 1000 : undefined)
      }
    }
  }

  // --- writers -----------------------------------------------------------------------------------------------------

  private headerStyle(): HeaderStyle {
    return this.config.rateLimitHeaderStyle ?? {}
  }

  /** The views at admission, or (style `at: "answer"`) the buckets as they are now, when the answer leaves. */
  private viewsNow(ex: Exchange, now: number): LimitViews | undefined {
    if (ex.views === undefined) return undefined
    const style = this.headerStyle()
    return style.at === "answer" ? this.limiter.view(now, style) : ex.views
  }

  private headers(ex: Exchange): HeaderMap {
    const h: HeaderMap = { "content-type": "application/json" }
    const requestId = `req_fake${ex.seq}`
    const now = Date.now()
    const views = this.viewsNow(ex, now)
    if (ex.api === "anthropic") {
      h["request-id"] = requestId
      if (views !== undefined) anthropicLimitHeaders(h, views, now)
    } else {
      h["x-request-id"] = requestId
      h["openai-processing-ms"] = String(now - ex.receivedAt)
      if (views !== undefined) openaiLimitHeaders(h, views)
    }
    if (ex.extraHeaders !== undefined) Object.assign(h, ex.extraHeaders)
    return h
  }

  private write(ex: Exchange, status: number, h: HeaderMap, body: string | Buffer): void {
    if (ex.closed || ex.res.headersSent) return
    h["content-length"] = String(Buffer.byteLength(body))
    this.recordStatus(ex, status)
    ex.res.writeHead(status, h)
    ex.res.end(body)
  }

  private recordStatus(ex: Exchange, status: number): void {
    this.counters.byStatus[status] = (this.counters.byStatus[status] ?? 0) + 1
    if (ex.entry !== undefined) {
      ex.entry.status = status
      ex.entry.answeredAt = Date.now()
    }
  }

  private sendError(ex: Exchange, spec: ErrorSpec, api: ApiKind | undefined = ex.api, retryAfterMs?: number): void {
    const h = this.headers(ex)
    if (retryAfterMs !== undefined) retryAfterHeaders(h, api, retryAfterMs)
    this.write(ex, spec.status, h, JSON.stringify(errorBody(api, spec, `req_fake${ex.seq}`)))
  }

  private successJson(ex: Exchange, call: ParsedCall, answers: ReadonlyArray<Answer>, contentFilter: boolean): string {
    const { body } = answerBody(call, answers, contentFilter, ex.seq, Date.now(), this.config.cachedPromptTokens ?? 0)
    if (this.config.choiceOrder === "reversed" && isRecord(body) && Array.isArray(body["choices"])) {
      return JSON.stringify({ ...body, choices: [...body["choices"]].reverse() })
    }
    return JSON.stringify(body)
  }

  private sendAnswer(ex: Exchange, call: ParsedCall, answers: ReadonlyArray<Answer>, contentFilter: boolean): void {
    if (call.stream) return this.sendStream(ex, call, answers, contentFilter)
    this.write(ex, 200, this.headers(ex), this.successJson(ex, call, answers, contentFilter))
  }

  /** A batch endpoint's view of the exchange. Batch responses carry request ids but no rate-limit headers. */
  private batchHttp(ex: Exchange, raw: Buffer, json: unknown, tooLarge: boolean): BatchHttp {
    const url = ex.req.url ?? "/"
    const q = url.indexOf("?")
    const requestId = `req_fake${ex.seq}`
    const anthropic = ex.path.startsWith("/v1/messages")
    const headers = (contentType: string): HeaderMap =>
      anthropic
        ? { "content-type": contentType, "request-id": requestId }
        : {
          "content-type": contentType,
          "x-request-id": requestId,
          "openai-processing-ms": String(Date.now() - ex.receivedAt)
        }
    return {
      method: ex.req.method ?? "",
      path: ex.path,
      query: new URLSearchParams(q < 0 ? "" : url.slice(q + 1)),
      headers: ex.req.headers,
      raw,
      json,
      tooLarge,
      origin: `http://${ex.req.headers.host ?? `127.0.0.1:${ex.req.socket.localPort}`}`,
      requestId,
      send: (status, contentType, body) => this.write(ex, status, headers(contentType), body),
      stream: (status, contentType, chunks) => this.writeStream(ex, status, headers(contentType), chunks)
    }
  }

  /** Writes `chunks` as they come, waiting for `drain` when the socket's buffer is full (no content-length). */
  private writeStream(ex: Exchange, status: number, h: HeaderMap, chunks: Iterable<string>): void {
    if (ex.closed || ex.res.headersSent) return
    this.recordStatus(ex, status)
    ex.res.writeHead(status, h)
    const iterator = chunks[Symbol.iterator]()
    const pump = (): void => {
      try {
        for (;;) {
          if (ex.closed) return
          const next = iterator.next()
          if (next.done === true) return void ex.res.end()
          if (!ex.res.write(next.value)) return void ex.res.once("drain", pump)
        }
      } catch {
        // The status is out already; a cut connection is the only way left to say the body is wrong.
        ex.res.destroy()
      }
    }
    pump()
  }

  /**
   * A streamed answer (see `internal/streaming.ts`). Faults after the headers: `reset-after-headers` sends half the
   * events and destroys the socket, `truncated` ends the response cleanly after half of them, `malformed` sends one
   * event whose data is not JSON after the first, `overloaded` (Anthropic) an `error` event after `message_start`.
   */
  private sendStream(
    ex: Exchange,
    call: ParsedCall,
    answers: ReadonlyArray<Answer>,
    contentFilter: boolean,
    fault?: "reset-after-headers" | "truncated" | "malformed" | "overloaded"
  ): void {
    if (ex.closed || ex.res.headersSent) return
    const { body } = answerBody(call, answers, contentFilter, ex.seq, Date.now(), this.config.cachedPromptTokens ?? 0)
    const chunkChars = Math.max(1, this.config.streamChunkChars ?? 4)
    const frames = call.api === "anthropic"
      ? anthropicEvents(body as Readonly<Record<string, unknown>>, chunkChars)
      : openaiChatEvents(body as Readonly<Record<string, unknown>>, ex.streamUsage, chunkChars)
    if (fault === "malformed") frames.splice(1, frames.length - 1, malformedFrame(call.api === "anthropic"))
    if (fault === "overloaded") frames.splice(1, frames.length - 1, overloadedFrame)
    const h = this.headers(ex)
    h["content-type"] = "text/event-stream; charset=utf-8"
    h["cache-control"] = "no-cache"
    this.recordStatus(ex, 200)
    ex.res.writeHead(200, h)
    const half = Math.max(2, Math.floor(frames.length / 2))
    const cut = fault === "reset-after-headers"
      ? { after: half, end: "drop" as const }
      : fault === "truncated"
      ? { after: half, end: "close" as const }
      : undefined
    const counters = this.counters
    writeFrames(ex.res, frames, {
      delayMs: this.config.streamChunkDelayMs ?? 0,
      cut,
      onEnd: (end) => counters.streams[end]++
    })
  }

  private sendBroken(ex: Exchange, call: ParsedCall, fault: "reset-after-headers" | "truncated" | "malformed"): void {
    if (ex.closed) return
    if (call.stream) return this.sendStream(ex, call, call.prompts.map((p) => defaultAnswer(call, p)), false, fault)
    const h = this.headers(ex)
    if (fault === "malformed") return this.write(ex, 200, h, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    const full = this.successJson(ex, call, call.prompts.map((p) => defaultAnswer(call, p)), false)
    const half = full.slice(0, Math.max(1, Math.floor(full.length / 2)))
    if (fault === "truncated") return this.write(ex, 200, h, half)
    // Announce the full length, send half, then kill the socket: the client sees a body-read error, not a parse error.
    h["content-length"] = String(Buffer.byteLength(full))
    this.recordStatus(ex, 200)
    ex.res.writeHead(200, h)
    ex.res.write(half, () => ex.req.socket.destroy())
  }
}

const apiForPath = (path: string): ApiKind | undefined => (path.startsWith("/v1/messages") ? "anthropic" : undefined)

// ---------------------------------------------------------------------------------------------------------------------
// Public API

const start = (options: FakeProviderOptions = {}): Promise<FakeProviderServer> =>
  new Promise((resolve, reject) => {
    const provider = new Provider(options)
    const server = http.createServer({ keepAliveTimeout: 30_000 }, provider.handle)
    server.once("error", reject)
    server.listen({ port: options.port ?? 0, host: "127.0.0.1", backlog: 4096 }, () => {
      server.off("error", reject)
      const { port } = server.address() as AddressInfo
      const url = `http://127.0.0.1:${port}`
      let closing: Promise<void> | undefined
      resolve({
        url,
        port,
        openaiBaseUrl: `${url}/v1`,
        anthropicBaseUrl: url,
        get stats() {
          return provider.stats()
        },
        get requests() {
          return provider.requests()
        },
        configure: (config) => provider.configure(config),
        failNext: (kind, count) => provider.failNext(kind, count),
        batchLedger: () => provider.batchLedger(),
        reset: () => provider.reset(),
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done())
            // Destroys idle keep-alive sockets AND sockets with a request in flight (hangs, pending latency timers).
            server.closeAllConnections()
          })
          return closing
        }
      })
    })
  })

/** Effect-friendly acquisition: the server lives as long as the surrounding `Scope`. */
const scoped = (options?: FakeProviderOptions): Effect.Effect<FakeProviderServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.close())
  )

/**
 * Entry points of the fake provider.
 * - `start(options?)` starts a server on 127.0.0.1 (random port unless `options.port`).
 * - `scoped(options?)` is the same as a scoped Effect resource (closed when the scope closes).
 */
export const FakeProvider = { start, scoped, faultKinds: FAULT_KINDS } as const

// Stand-alone use: `node --import tsx test/support/FakeProvider.ts --port 8787 --rpm 600 --tpm 100000 --latency 50`
// (header style: `--remaining per-minute|burst --view-at admission|answer --reset to-full|to-next`; batch timings in ms:
// `--batch-validating --batch-per-request --batch-processing --batch-finalizing --batch-cancelling --batch-window`,
// and `--batch-error-rate 0.1`)
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      rpm: { type: "string" },
      tpm: { type: "string" },
      burst: { type: "string" },
      latency: { type: "string" },
      remaining: { type: "string" },
      "view-at": { type: "string" },
      reset: { type: "string" },
      "batch-validating": { type: "string" },
      "batch-per-request": { type: "string" },
      "batch-processing": { type: "string" },
      "batch-finalizing": { type: "string" },
      "batch-cancelling": { type: "string" },
      "batch-window": { type: "string" },
      "batch-error-rate": { type: "string" }
    }
  })
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s))
  void start({
    port: num(values.port),
    rpm: num(values.rpm),
    tpm: num(values.tpm),
    burst: num(values.burst),
    latencyMs: num(values.latency),
    rateLimitHeaderStyle: {
      remaining: values.remaining as HeaderStyle["remaining"],
      at: values["view-at"] as HeaderStyle["at"],
      reset: values.reset as HeaderStyle["reset"]
    },
    batch: {
      validatingMs: num(values["batch-validating"]),
      perRequestMs: num(values["batch-per-request"]),
      processingMs: num(values["batch-processing"]),
      finalizingMs: num(values["batch-finalizing"]),
      cancellingMs: num(values["batch-cancelling"]),
      completionWindowMs: num(values["batch-window"])
    },
    batchFaults: { errorRate: num(values["batch-error-rate"]) },
    logRequests: false
  }).then((s) =>
    console.log(
      `FakeProvider listening on ${s.url} (OpenAI baseURL ${s.openaiBaseUrl}, Anthropic baseURL ${s.anthropicBaseUrl})`
    )
  )
}
