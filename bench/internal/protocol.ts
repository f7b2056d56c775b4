/**
 * What `bench/run.ts` and its child processes say to each other, and the items every contender sends.
 *
 * A contender process gets one {@link ContenderTask} as JSON in `argv[2]` and prints one line
 * `BENCH_RESULT <json ContenderResult>` on stdout. The server process (`bench/server.ts`) gets its
 * `FakeProviderOptions` as JSON in `argv[2]`, prints `{"url": ...}` once it listens, answers a `stats`
 * line on stdin with one {@link ServerReport} line, and exits when stdin closes.
 */
import type { FakeProviderStats } from "../../test/support/FakeProvider.js"

/** The prefix of the one stdout line that carries a contender's result. */
export const RESULT_PREFIX = "BENCH_RESULT "

/** One contender run, as `bench/run.ts` asks for it. */
export interface ContenderTask {
  readonly scenario: string
  /** The OpenAI base URL of this run's fake server (`http://127.0.0.1:PORT/v1`). */
  readonly baseUrl: string
  readonly items: number
  readonly concurrency: number
  /** The requests-per-minute limit the contender is told, when it is told one. */
  readonly rpm?: number
  /** Where to stream the results as JSONL (memory scenario); results stay in memory when unset. */
  readonly output?: string
  /** Baseline only: append each result to `output` as it completes instead of keeping them all. */
  readonly streamResults?: boolean
  /** Capstan only: run with the response cache on (`readwrite`), stored in this SQLite file. */
  readonly cacheFile?: string
}

/** What a contender measured about itself over the timed part of its run (client setup included, module loading not). */
export interface ContenderResult {
  readonly items: number
  /** Items answered with the expected text. */
  readonly ok: number
  /** Items that ended in an error (a rejected promise, or a row carrying an error). */
  readonly failed: number
  /** Items with no result at all (rows missing from the output). */
  readonly missing: number
  /** Items answered, but not with the text the server sends for that prompt (a mix-up). */
  readonly wrong: number
  /** Failure counts by error name / tag. */
  readonly errors: Readonly<Record<string, number>>
  /** `Date.now()` when the timed part began (the server's timeline uses the same clock). */
  readonly startedAt: number
  readonly wallMs: number
  readonly cpuUserMs: number
  readonly cpuSystemMs: number
  /** RSS once modules were loaded, before the timed part. */
  readonly startRssMb: number
  /** Peak RSS of the whole process (`resourceUsage().maxRSS`, i.e. VmHWM). */
  readonly peakRssMb: number
}

/** Counts per one-second bucket since the first request the server saw. */
export interface Timeline {
  /** `Date.now()` when the first request arrived: minus the contender's `startedAt`, its time to first request. */
  readonly firstArrivalAt: number
  readonly admittedPerSecond: ReadonlyArray<number>
  readonly refusedPerSecond: ReadonlyArray<number>
  /** Items answered successfully (their first 200 without a fault), by the second their request arrived. */
  readonly answeredPerSecond: ReadonlyArray<number>
  readonly firstRefusalMs: number | undefined
  readonly lastRefusalMs: number | undefined
  /** Time from the first request's arrival to the last answer written. */
  readonly spanMs: number
  /** How many items needed k attempts (k as the key), counted from the prompt's item number. */
  readonly attemptsPerItem: Readonly<Record<string, number>>
  /** Items answered 200 more than once (billed twice). */
  readonly duplicateSuccesses: number
  /** Histogram of the `x-stainless-retry-count` header (the SDK's own retries). */
  readonly sdkRetryCount: Readonly<Record<string, number>>
  /** The item whose last attempt came last: when each of its attempts arrived and how it was answered. */
  readonly lastItem: {
    readonly item: number
    readonly attempts: ReadonlyArray<
      { readonly atMs: number; readonly status: number | undefined; readonly fault: string | undefined }
    >
  } | undefined
}

/** The server's ground truth for one run. The timeline is there when the scenario keeps a request log. */
export interface ServerReport {
  readonly stats: FakeProviderStats
  /** User + system CPU the server process spent since it started listening (is the run server-bound?). */
  readonly cpuMs: number
  readonly timeline: Timeline | undefined
}

/** The prompt of item `n`; both contenders send exactly this text as the only user message. */
export const PROMPT_TEMPLATE = "Review {n}: the kettle boils in two minutes and the lid clicks shut."

/** The prompt of item `n`. */
export const prompt = (n: number): string => PROMPT_TEMPLATE.replace("{n}", String(n))

/** What the fake server answers to item `n` (its default answer echoes the last user message). */
export const expectedAnswer = (n: number): string => `echo: ${prompt(n)}`

/** The item number in a prompt, or undefined for any other text. */
export const itemOf = (text: string): number | undefined => {
  const match = /^Review (\d+):/.exec(text)
  return match === null ? undefined : Number(match[1])
}

/** The model name every contender asks for. */
export const MODEL = "bench-model"

/** The API key every contender sends (the fake server accepts any). */
export const API_KEY = "sk-bench"
