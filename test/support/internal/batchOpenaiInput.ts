/**
 * Validation of an OpenAI batch input file, as the Batch API does it while the batch is `validating`: the file's size
 * and line count, then each line (`{custom_id, method: "POST", url, body}` with the batch's endpoint as `url`), unique
 * custom ids and one `body.model` for the whole file. A body the endpoint would refuse is not a validation error: that
 * request fails on its own, in the error file.
 * @module
 */
import { estimateRequestTokens, RequestTable } from "./batchRun.js"
import type { ApiKind } from "./types.js"
import { isRecord } from "./wire.js"

/** One entry of a failed batch's `errors.data`. */
export interface InputError {
  readonly code: string
  readonly message: string
  readonly param: string | null
  readonly line: number | null
}

export interface ValidatedInput {
  readonly table: RequestTable
  /** Empty when the file is valid. */
  readonly errors: ReadonlyArray<InputError>
  readonly model: string | undefined
  /** The realtime limiter's estimate summed over the requests, for the enqueued-token limit. */
  readonly tokens: number
}

export interface InputLimits {
  readonly maxRequests: number
  readonly maxBytes: number
}

/** The real service reports a bounded number of line errors too; past this many, the rest of the file is not read. */
const MAX_REPORTED = 100

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

const fileError = (code: string, message: string): InputError => ({ code, message, param: null, line: null })

export const validateInput = (
  content: Buffer,
  endpoint: string,
  api: ApiKind,
  limits: InputLimits
): ValidatedInput => {
  const refuse = (error: InputError): ValidatedInput => ({
    table: new RequestTable([], Buffer.alloc(0), new Uint32Array(0), new Uint32Array(0), "body"),
    errors: [error],
    model: undefined,
    tokens: 0
  })
  if (content.length > limits.maxBytes) {
    return refuse(fileError(
      "file_too_large",
      `The batch input file is larger than the ${limits.maxBytes} maximum. Please try again with a smaller batch.`
    ))
  }
  const bounds = lineBounds(content)
  if (bounds.length === 0) return refuse(fileError("empty_file", "The batch input file is empty."))
  if (bounds.length > limits.maxRequests) {
    return refuse(fileError(
      "too_many_requests",
      `The batch input file has ${bounds.length} requests, more than the ${limits.maxRequests} maximum. Please try again with a smaller batch.`
    ))
  }
  const errors: Array<InputError> = []
  const customIds: Array<string> = []
  const seen = new Set<string>()
  const starts = new Uint32Array(bounds.length)
  const ends = new Uint32Array(bounds.length)
  let model: string | undefined
  let tokens = 0
  for (let i = 0; i < bounds.length && errors.length < MAX_REPORTED; i++) {
    const [start, end] = bounds[i]!
    const line = i + 1
    const problem = checkLine(content.toString("utf8", start, end), endpoint)
    if ("code" in problem) {
      errors.push({ ...problem, line })
      continue
    }
    const { customId, body } = problem
    if (seen.has(customId)) {
      errors.push({
        code: "duplicate_custom_id",
        message:
          "The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.",
        param: "custom_id",
        line
      })
      continue
    }
    seen.add(customId)
    const lineModel = body["model"] as string
    model ??= lineModel
    if (lineModel !== model) {
      errors.push({
        code: "mismatched_model",
        message:
          `The model '${lineModel}' of this request differs from the model '${model}' of the first request. All the requests of a batch must use the same model.`,
        param: "body.model",
        line
      })
      continue
    }
    customIds.push(customId)
    starts[i] = start
    ends[i] = end
    tokens += estimateRequestTokens(api, body)
  }
  if (errors.length > 0) return { ...refuse(errors[0]!), errors, model }
  return { table: new RequestTable(customIds, content, starts, ends, "body"), errors, model, tokens }
}

/** `[start, end)` of each line, a `\r` before the `\n` left out; the empty piece after a final newline is no line. */
const lineBounds = (content: Buffer): Array<readonly [number, number]> => {
  const bounds: Array<readonly [number, number]> = []
  let start = 0
  while (start < content.length) {
    const newline = content.indexOf(NEWLINE, start)
    const stop = newline < 0 ? content.length : newline
    const end = stop > start && content[stop - 1] === CARRIAGE_RETURN ? stop - 1 : stop
    bounds.push([start, end])
    start = stop + 1
  }
  return bounds
}

type LineProblem = Omit<InputError, "line">

const missing = (param: string): LineProblem => ({
  code: "missing_required_parameter",
  message: `Missing required parameter: '${param}'.`,
  param
})

const checkLine = (
  text: string,
  endpoint: string
): LineProblem | { readonly customId: string; readonly body: Readonly<Record<string, unknown>> } => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (!isRecord(parsed)) {
    return { code: "invalid_json_line", message: "This line is not parseable as valid JSON.", param: null }
  }
  const customId = parsed["custom_id"]
  if (typeof customId !== "string" || customId.length === 0) return missing("custom_id")
  const method = parsed["method"]
  if (method === undefined) return missing("method")
  if (method !== "POST") {
    return {
      code: "invalid_value",
      message: `Invalid value: ${JSON.stringify(method)}. Supported values are: 'POST'.`,
      param: "method"
    }
  }
  const url = parsed["url"]
  if (url === undefined) return missing("url")
  if (url !== endpoint) {
    return {
      code: "invalid_url",
      message: `The URL provided for this request does not match the batch endpoint: ${
        JSON.stringify(url)
      } is not '${endpoint}'.`,
      param: "url"
    }
  }
  const body = parsed["body"]
  if (!isRecord(body)) return missing("body")
  if (typeof body["model"] !== "string") return missing("body.model")
  return { customId, body }
}
