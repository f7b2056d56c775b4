/**
 * OpenAI's Files and Batch APIs: `POST /v1/files` (multipart), `GET /v1/files`, `GET|DELETE /v1/files/{id}`,
 * `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches`, `GET /v1/batches/{id}`,
 * `POST /v1/batches/{id}/cancel`, with the objects shaped as in the API reference.
 *
 * Output and error files are not stored: their lines are made from the run when they are read (see `batchRun.ts`).
 * @module
 */
import {
  type BatchHttp,
  chunked,
  invalid,
  newestFirstPage,
  notFound,
  pageLimit,
  type Route,
  sendError,
  sendJson,
  unixSeconds
} from "./batchHttp.js"
import { type InputError, validateInput } from "./batchOpenaiInput.js"
import { type BatchContext, type BatchRun, CHAT_PATH, COMPLETIONS_PATH, isTerminal, type Phase } from "./batchRun.js"
import { errorBody, type ErrorSpec, statusError } from "./errors.js"
import type { ApiKind } from "./types.js"
import { isRecord } from "./wire.js"

const MIB = 1024 * 1024
const DEFAULT_MAX_REQUESTS = 50_000
const DEFAULT_MAX_BYTES = 200 * MIB
/** The Files API's own limit on one upload (a batch input file is held to the smaller batch limit later). */
const UPLOAD_LIMIT = 512 * MIB

const ENDPOINTS: Readonly<Record<string, ApiKind>> = {
  [CHAT_PATH]: "openai-chat",
  [COMPLETIONS_PATH]: "openai-completion"
}
const PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]

type FileEntry =
  | {
    readonly kind: "upload"
    readonly id: string
    readonly filename: string
    readonly purpose: string
    readonly createdAt: number
    readonly content: Buffer
  }
  | {
    readonly kind: "output"
    readonly id: string
    readonly filename: string
    readonly purpose: "batch_output"
    readonly createdAt: number
    readonly batch: OpenaiBatch
    readonly which: "output" | "error"
    /** Worked out on first need: the file is final once its batch is. */
    bytes: number | undefined
  }

interface OpenaiBatch {
  readonly id: string
  readonly run: BatchRun
  readonly endpoint: string
  readonly inputFileId: string
  readonly metadata: unknown
  readonly model: string | undefined
  readonly errors: ReadonlyArray<InputError>
  /** Tokens held against the enqueued-token limit while the batch is unfinished. */
  readonly tokens: number
  outputFileId: string | undefined
  errorFileId: string | undefined
  filesMade: boolean
}

export class OpenaiBatches {
  private files = new Map<string, FileEntry>()
  private batches = new Map<string, OpenaiBatch>()

  constructor(private readonly ctx: BatchContext) {}

  get runs(): Iterable<BatchRun> {
    return [...this.batches.values()].map((b) => b.run)
  }

  reset(): void {
    this.files.clear()
    this.batches.clear()
  }

  route(method: string, path: string): Route | undefined {
    const [, v1, resource, id, action, ...rest] = path.split("/")
    if (v1 !== "v1" || rest.length > 0) return undefined
    const key = id === undefined ? undefined : decodeURIComponent(id)
    if (resource === "files") {
      if (key === undefined) {
        if (method === "POST") return { handle: (http, t) => this.upload(http, t), maxBodyBytes: this.uploadLimit() }
        return method === "GET" ? { handle: (http) => this.listFiles(http) } : undefined
      }
      if (action === "content") return method === "GET" ? { handle: (http) => this.content(http, key) } : undefined
      if (action !== undefined) return undefined
      if (method === "GET") {
        return { handle: (http) => this.withFile(http, key, (f) => sendJson(http, 200, this.fileObject(f))) }
      }
      return method === "DELETE" ? { handle: (http) => this.deleteFile(http, key) } : undefined
    }
    if (resource !== "batches") return undefined
    if (key === undefined) {
      if (method === "POST") return { handle: (http, t) => this.create(http, t) }
      return method === "GET" ? { handle: (http, t) => this.list(http, t) } : undefined
    }
    if (action === "cancel") return method === "POST" ? { handle: (http, t) => this.cancel(http, t, key) } : undefined
    if (action !== undefined || method !== "GET") return undefined
    return { handle: (http, t) => this.withBatch(http, key, (b) => sendJson(http, 200, this.render(b, t))) }
  }

  private uploadLimit(): number {
    return Math.max(UPLOAD_LIMIT, 2 * (this.ctx.options()?.openaiMaxBytes ?? 0))
  }

  // --- files -----------------------------------------------------------------------------------------------------

  private async upload(http: BatchHttp, t: number): Promise<void> {
    if (http.tooLarge) return fail(http, statusError(413, "File is too large.", "file_too_large", "file"))
    const type = http.headers["content-type"] ?? ""
    if (!type.startsWith("multipart/form-data")) {
      return fail(http, invalid("The body must be multipart/form-data with the fields 'file' and 'purpose'."))
    }
    let form: FormData
    try {
      const request = new Request("http://fake.invalid/v1/files", {
        method: "POST",
        headers: { "content-type": type },
        body: new Uint8Array(http.raw.buffer, http.raw.byteOffset, http.raw.byteLength)
      })
      form = await request.formData()
    } catch {
      return fail(http, invalid("The multipart/form-data body could not be parsed."))
    }
    const purpose = form.get("purpose")
    const file = form.get("file")
    if (typeof purpose !== "string") return fail(http, invalid("Missing required parameter: 'purpose'.", "purpose"))
    if (file === null || typeof file === "string") {
      return fail(http, invalid("Missing required parameter: 'file'.", "file"))
    }
    if (!PURPOSES.includes(purpose)) {
      const supported = PURPOSES.map((p) => `'${p}'`).join(", ")
      return fail(http, invalid(`Invalid value: '${purpose}'. Supported values are: ${supported}.`, "purpose"))
    }
    if (purpose === "batch" && !file.name.endsWith(".jsonl")) {
      return fail(http, invalid("Invalid file format for Batch API. Must be .jsonl", "file"))
    }
    const entry: FileEntry = {
      kind: "upload",
      id: this.ctx.newId("file-fake"),
      filename: file.name,
      purpose,
      createdAt: t,
      content: Buffer.from(await file.arrayBuffer())
    }
    this.files.set(entry.id, entry)
    this.ctx.countFile()
    sendJson(http, 200, this.fileObject(entry))
  }

  private listFiles(http: BatchHttp): void {
    const limit = pageLimit(http.query, 10_000, 10_000)
    if (limit === undefined) return fail(http, invalid("Invalid 'limit': an integer from 1 to 10000.", "limit"))
    const purpose = http.query.get("purpose")
    const files = [...this.files.values()].filter((f) => purpose === null || f.purpose === purpose)
    const ordered = http.query.get("order") === "asc" ? files.slice().reverse() : files
    const page = newestFirstPage(ordered, limit, { after: http.query.get("after") ?? undefined })
    sendJson(http, 200, listObject(page.data.map((f) => this.fileObject(f)), page.hasMore))
  }

  private withFile(http: BatchHttp, id: string, found: (file: FileEntry) => void): void {
    const file = this.files.get(id)
    if (file === undefined) return fail(http, notFound(`No such File object: ${id}`, "id"))
    found(file)
  }

  private deleteFile(http: BatchHttp, id: string): void {
    this.withFile(http, id, () => {
      this.files.delete(id)
      sendJson(http, 200, { id, object: "file", deleted: true })
    })
  }

  private content(http: BatchHttp, id: string): void {
    this.withFile(http, id, (file) => {
      if (file.kind === "upload") return http.send(200, "application/octet-stream", file.content)
      http.stream(200, "application/octet-stream", chunked(this.lines(file.batch, file.which)))
    })
  }

  // --- batches ---------------------------------------------------------------------------------------------------

  private create(http: BatchHttp, t: number): void {
    const body = http.json
    if (!isRecord(body)) {
      return fail(http, invalid("We could not parse the JSON body of your request. The body must be a JSON object."))
    }
    const problem = checkCreate(body)
    if (problem !== undefined) return fail(http, problem)
    const inputFileId = body["input_file_id"] as string
    const endpoint = body["endpoint"] as string
    const file = this.files.get(inputFileId)
    if (file === undefined) return fail(http, notFound(`No such File object: ${inputFileId}`, "input_file_id"))
    if (file.kind !== "upload" || file.purpose !== "batch") {
      return fail(
        http,
        invalid(`Invalid 'input_file_id': '${inputFileId}' was not uploaded with purpose 'batch'.`, "input_file_id")
      )
    }
    const options = this.ctx.options()
    const api = ENDPOINTS[endpoint]!
    const input = validateInput(file.content, endpoint, api, {
      maxRequests: options?.openaiMaxRequests ?? DEFAULT_MAX_REQUESTS,
      maxBytes: options?.openaiMaxBytes ?? DEFAULT_MAX_BYTES
    })
    const overLimit = input.errors.length === 0 ? this.tokenLimitError(input.model!, input.tokens, t) : undefined
    const errors = overLimit === undefined ? input.errors : [overLimit]
    const id = this.ctx.newId("batch_fake")
    const run = this.ctx.startRun({
      provider: "openai",
      api,
      id,
      createdAt: t,
      table: input.table,
      refused: errors.length > 0,
      headers: http.headers
    })
    const batch: OpenaiBatch = {
      id,
      run,
      endpoint,
      inputFileId,
      metadata: body["metadata"] ?? null,
      model: input.model,
      errors,
      tokens: errors.length > 0 ? 0 : input.tokens,
      outputFileId: undefined,
      errorFileId: undefined,
      filesMade: false
    }
    this.batches.set(id, batch)
    // The real API answers a create with the batch still validating, however quick the validation.
    sendJson(http, 200, this.render(batch, t, "validating"))
  }

  /** The enqueued-token limit counts the unfinished batches of the same model, as OpenAI's does. */
  private tokenLimitError(model: string, tokens: number, t: number): InputError | undefined {
    const limit = this.ctx.options()?.enqueuedTokenLimit
    if (limit === undefined) return undefined
    let enqueued = tokens
    for (const b of this.batches.values()) {
      if (b.model === model && !isTerminal(b.run.phase(t))) enqueued += b.tokens
    }
    if (enqueued <= limit) return undefined
    return {
      code: "token_limit_exceeded",
      message:
        `Enqueued token limit reached for ${model} in organization org-fake. Limit: ${limit} enqueued tokens. Please try submitting your batch again later.`,
      param: null,
      line: null
    }
  }

  private list(http: BatchHttp, t: number): void {
    const limit = pageLimit(http.query, 20, 100)
    if (limit === undefined) return fail(http, invalid("Invalid 'limit': an integer from 1 to 100.", "limit"))
    const page = newestFirstPage([...this.batches.values()], limit, { after: http.query.get("after") ?? undefined })
    sendJson(http, 200, listObject(page.data.map((b) => this.render(b, t)), page.hasMore))
  }

  private withBatch(http: BatchHttp, id: string, found: (batch: OpenaiBatch) => void): void {
    const batch = this.batches.get(id)
    if (batch === undefined) return fail(http, notFound(`No batch found with id '${id}'.`, "batch_id"))
    found(batch)
  }

  private cancel(http: BatchHttp, t: number, id: string): void {
    this.withBatch(http, id, (batch) => {
      const phase = batch.run.phase(t)
      if (phase === "cancelling" || phase === "cancelled") return sendJson(http, 200, this.render(batch, t))
      if (phase !== "validating" && phase !== "in_progress") {
        return fail(http, statusError(409, `Cannot cancel a batch with status '${phase}'.`))
      }
      batch.run.cancelAt = t
      sendJson(http, 200, this.render(batch, t, "cancelling"))
    })
  }

  /** The Batch object at `t`; `shown` replaces the status of a batch just created or cancelled. */
  private render(batch: OpenaiBatch, t: number, shown?: Phase) {
    const run = batch.run
    const phase = shown ?? run.phase(t)
    if (isTerminal(phase)) this.makeOutputFiles(batch, phase)
    const at = (ms: number | undefined) => (ms === undefined ? null : unixSeconds(ms))
    const validated = !run.refused && t >= run.startAt && phase !== "validating"
    const ranRequests = validated && (run.cancelAt === undefined || run.cancelAt >= run.startAt)
    const ended = run.endedAt(phase)
    return {
      id: batch.id,
      object: "batch",
      endpoint: batch.endpoint,
      errors: phase === "failed" ? { object: "list", data: batch.errors } : null,
      input_file_id: batch.inputFileId,
      completion_window: "24h",
      status: phase,
      output_file_id: batch.outputFileId ?? null,
      error_file_id: batch.errorFileId ?? null,
      created_at: unixSeconds(run.createdAt),
      in_progress_at: ranRequests ? unixSeconds(run.startAt) : null,
      expires_at: unixSeconds(run.expiresAt),
      finalizing_at: phase === "finalizing" || phase === "completed" ? at(run.finishesAt) : null,
      completed_at: phase === "completed" ? at(ended) : null,
      failed_at: phase === "failed" ? at(ended) : null,
      expired_at: phase === "expired" ? at(ended) : null,
      cancelling_at: phase === "cancelling" || phase === "cancelled" ? at(run.cancelAt) : null,
      cancelled_at: phase === "cancelled" ? at(ended) : null,
      request_counts: { total: validated ? run.total : 0, completed: run.succeeded, failed: run.errored },
      metadata: batch.metadata,
      model: batch.model ?? null,
      usage: {
        input_tokens: run.inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: run.outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: run.inputTokens + run.outputTokens
      }
    }
  }

  /** Output and error files appear when the batch ends, each only if it has lines. */
  private makeOutputFiles(batch: OpenaiBatch, phase: Phase): void {
    if (batch.filesMade) return
    batch.filesMade = true
    const run = batch.run
    if (run.refused) return
    const createdAt = run.endedAt(phase) ?? run.createdAt
    const add = (which: "output" | "error"): string => {
      const id = this.ctx.newId("file-fake")
      const filename = `${batch.id}_${which}.jsonl`
      this.files.set(id, {
        kind: "output",
        id,
        filename,
        purpose: "batch_output",
        createdAt,
        batch,
        which,
        bytes: undefined
      })
      return id
    }
    if (run.succeeded > 0) batch.outputFileId = add("output")
    if (run.errored > 0 || run.processed < run.total) batch.errorFileId = add("error")
  }

  private fileObject(file: FileEntry) {
    return {
      id: file.id,
      object: "file",
      bytes: file.kind === "upload" ? file.content.length : this.outputBytes(file),
      created_at: unixSeconds(file.createdAt),
      filename: file.filename,
      purpose: file.purpose,
      status: "processed",
      status_details: null
    }
  }

  private outputBytes(file: Extract<FileEntry, { kind: "output" }>): number {
    if (file.bytes === undefined) {
      let bytes = 0
      for (const line of this.lines(file.batch, file.which)) bytes += Buffer.byteLength(line) + 1
      file.bytes = bytes
    }
    return file.bytes
  }

  /**
   * The lines of an output file (succeeded requests) or error file (errored ones, then those that never ran), in
   * input order, each with the realtime body or error body the request got.
   */
  private *lines(batch: OpenaiBatch, which: "output" | "error"): Generator<string> {
    const run = batch.run
    for (let i = 0; i < run.total; i++) {
      // Files exist once the batch has ended, and an ended batch's phase no longer changes.
      const result = run.result(i, Number.POSITIVE_INFINITY)
      const seq = run.seqOf(i)
      const head = { id: `batch_req_fake${seq}`, custom_id: run.table.customIds[i] }
      const requestId = `req_fakebatch${seq}`
      if (result.kind === "succeeded") {
        if (which === "output") {
          const response = { status_code: 200, request_id: requestId, body: result.body }
          yield JSON.stringify({ ...head, response, error: null })
        }
      } else if (which === "error") {
        if (result.kind === "errored") {
          const response = {
            status_code: result.spec.status,
            request_id: requestId,
            body: errorBody("openai-chat", result.spec, requestId)
          }
          yield JSON.stringify({ ...head, response, error: null })
        } else if (result.kind === "expired" || result.kind === "cancelled") {
          yield JSON.stringify({ ...head, response: null, error: unrunError(result.kind) })
        }
      }
    }
  }
}

const unrunError = (kind: "expired" | "cancelled") =>
  kind === "expired"
    ? { code: "batch_expired", message: "This request could not be executed before the completion window expired." }
    : { code: "batch_cancelled", message: "This request was not executed because the batch was cancelled." }

const fail = (http: BatchHttp, spec: ErrorSpec): void => sendError(http, "openai-chat", spec)

/** The synchronous checks of `POST /v1/batches` (the file's content is checked while the batch validates). */
const checkCreate = (body: Readonly<Record<string, unknown>>): ErrorSpec | undefined => {
  for (const param of ["input_file_id", "endpoint", "completion_window"]) {
    if (typeof body[param] !== "string") return invalid(`Missing required parameter: '${param}'.`, param)
  }
  const endpoint = body["endpoint"] as string
  if (ENDPOINTS[endpoint] === undefined) {
    return invalid(
      `Invalid value: '${endpoint}'. The fake provider supports '${CHAT_PATH}' and '${COMPLETIONS_PATH}'.`,
      "endpoint"
    )
  }
  if (body["completion_window"] !== "24h") {
    return invalid(
      `Invalid value: '${String(body["completion_window"])}'. Supported values are: '24h'.`,
      "completion_window"
    )
  }
  const metadata = body["metadata"]
  if (metadata === undefined || metadata === null) return undefined
  const entries = isRecord(metadata) ? Object.entries(metadata) : undefined
  const fits = entries !== undefined && entries.length <= 16 &&
    entries.every(([k, v]) => k.length <= 64 && typeof v === "string" && v.length <= 512)
  return fits
    ? undefined
    : invalid(
      "Invalid 'metadata': at most 16 keys of up to 64 characters, with string values of up to 512.",
      "metadata"
    )
}

const listObject = <A extends { readonly id: string }>(data: ReadonlyArray<A>, hasMore: boolean) => ({
  object: "list",
  data,
  first_id: data[0]?.id ?? null,
  last_id: data[data.length - 1]?.id ?? null,
  has_more: hasMore
})
