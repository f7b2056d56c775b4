/**
 * A batch's items under provider batch mode: the engine started for the generator in context (or realtime, under
 * `auto`, for a generator without a batch API), each item run by its own router (`providerBatchItem.ts`), and the
 * options checked when the batch is built. A pipeline's tools are sent as definitions only: a batch cannot wait on a
 * handler between two rounds, so a row ends with the model's tool calls (`metadata.toolsRun: false`).
 *
 * @internal
 */
import { Duration, Effect, type Schema, Stream } from "effect"
import type * as Dataset from "../Dataset.js"
import { Unsupported } from "../GenerationError.js"
import type * as ProviderBatch from "../ProviderBatch.js"
import { type BatchApi, Generator, type Service } from "./generator.js"
import { requireWhole } from "./pipeline.js"
import * as ProviderBatchEngine from "./providerBatch.js"
import { itemGenerator, type Ticket, ticketOf } from "./providerBatchItem.js"
import { RunsTools } from "./toolLoop.js"

/** What a row's metadata says about the provider batch its request went through. */
const ticketMetadata = (ticket: Ticket): Record<string, Schema.Json> => ({
  via: ticket.via,
  batchId: ticket.batchId,
  customId: ticket.customId,
  ...(ticket.unanswered === undefined ? {} : { unanswered: ticket.unanswered })
})

/**
 * Provider batch mode's settings: the options given (checked when the batch is built, before any request), within
 * the provider's limits.
 */
const providerBatchSettings = (options: ProviderBatch.Options | undefined) => {
  const checked = (name: keyof ProviderBatch.Options, value: number | undefined) => {
    if (value !== undefined && value !== Infinity) requireWhole(`providerBatch.${name}`, value, 1)
    return value
  }
  const maxRequests = checked("maxRequests", options?.maxRequests)
  const maxBytes = checked("maxBytes", options?.maxBytes)
  const maxBatchesInFlight = checked("maxBatchesInFlight", options?.maxBatchesInFlight)
  const duration = (value: Duration.Input | undefined, fallback: Duration.Duration) =>
    value === undefined ? fallback : Duration.fromInputUnsafe(value)
  const linger = duration(options?.linger, ProviderBatchEngine.defaults.linger)
  const pollInterval = duration(options?.pollInterval, ProviderBatchEngine.defaults.pollInterval)
  const queueBackoff = duration(options?.queueBackoff, ProviderBatchEngine.defaults.queueBackoff)
  return (api: BatchApi | undefined, provider: string): ProviderBatchEngine.Settings => {
    const limits = api?.limits ?? { maxRequests: defaultBatchRequests, maxBytes: Infinity }
    return {
      provider,
      journal: options?.journal ?? ProviderBatchEngine.memoryJournal,
      maxRequests: Math.min(maxRequests ?? defaultBatchRequests, limits.maxRequests),
      maxBytes: Math.min(maxBytes ?? limits.maxBytes, limits.maxBytes),
      maxBatchesInFlight: maxBatchesInFlight ?? ProviderBatchEngine.defaults.maxBatchesInFlight,
      linger,
      pollInterval,
      queueBackoff,
      cancelOnInterrupt: options?.cancelOnInterrupt ?? false,
      onStatus: options?.onStatus
    }
  }
}

/**
 * Requests per provider batch by default. Every item waiting for its batch is held in memory (about 14 KB with its
 * fiber, measured), so the default keeps the items waiting (`maxRequests` × (`maxBatchesInFlight` + 1), about
 * 10 000) to a couple of hundred MB, far below the providers' own limits (50 000 and 100 000 per batch).
 */
const defaultBatchRequests = 2000

/** Under `provider-batch`, a generator without a batch API answers every request with `Unsupported`. */
const noBatchApi = (generator: Service): Service => {
  const unsupported = Effect.fail(
    new Unsupported({
      provider: generator.identifier.provider,
      detail: `${generator.identifier.provider} has no batch API; use via: "auto" or "realtime"`
    })
  )
  return { identifier: generator.identifier, generate: () => unsupported, complete: () => unsupported }
}

/**
 * The rows of every item, as `run` makes them for one item on the generator it is given (the item's router), with
 * the metadata of the provider batch that answered each choice.
 */
export const perItem = <A, E, R, EI, RI>(args: {
  readonly source: Stream.Stream<Dataset.RenderedItem, EI, RI>
  readonly auto: boolean
  readonly options: ProviderBatch.Options | undefined
  readonly concurrency?: number
  readonly realtime: () => Stream.Stream<A, E | EI, R | RI>
  readonly run: (
    item: Dataset.RenderedItem,
    index: number,
    service: Service,
    metadataOf: (choice: number) => Record<string, Schema.Json> | undefined
  ) => Effect.Effect<A, E, R>
}): Stream.Stream<A, E | EI, R | RI | Generator> => {
  const settingsFor = providerBatchSettings(args.options)
  const fallback = args.options?.fallback ?? "realtime"
  return Stream.unwrap(Effect.gen(function*() {
    const generator = yield* Generator
    const api = generator.batch
    if (api === undefined && args.auto) return args.realtime()
    const settings = settingsFor(api, generator.identifier.provider)
    const submitter = api === undefined ? undefined : yield* ProviderBatchEngine.make(api, settings)
    return args.source.pipe(
      Stream.mapEffect(
        (item, index) => {
          const tickets = new Map<number, Ticket>()
          const service = submitter === undefined
            ? noBatchApi(generator)
            : itemGenerator(generator, submitter, item.id, fallback, tickets)
          return args.run(item, index, service, (choice) => {
            const ticket = ticketOf(tickets, choice)
            return ticket === undefined ? undefined : ticketMetadata(ticket)
          }).pipe(Effect.provideService(RunsTools, false))
        },
        {
          // Items wait for their batch: enough of them in flight to fill every batch allowed in flight, and the next.
          concurrency: args.concurrency ?? settings.maxRequests * (settings.maxBatchesInFlight + 1),
          unordered: true
        }
      )
    )
  }))
}
