/**
 * Provider options in a request body: a provider sends only its own entry of `params.providerOptions`, under what
 * Capstan sets itself, and says in the generation's warnings what it did not send.
 *
 * @internal
 */
import { GenerateParams } from "@capstan/core"

/**
 * The body with the provider's options under it: `defaults` first, then the options, then `body` (the model, the
 * messages and the typed params win). An option the body sets, or `stream` (streaming is a generator capability,
 * not an option), is not sent, with a warning.
 */
export const withProviderOptions = <B extends Record<string, unknown>>(
  params: GenerateParams.GenerateParams,
  names: ReadonlyArray<string>,
  body: B,
  warnings: Array<string>,
  defaults: Readonly<Record<string, unknown>> = {}
): B => {
  const options = GenerateParams.optionsFor(params, names)
  const keys = Object.keys(options)
  if (keys.length === 0) return { ...defaults, ...body }
  const out: Record<string, unknown> = { ...defaults }
  for (const key of keys) {
    if (key === "stream") {
      warnings.push(`provider option stream was not sent: a generator streams through its stream capability`)
    } else if (body[key] !== undefined) {
      warnings.push(
        `provider option ${key} was not sent: the request sets ${key} itself (set it in the params or the messages)`
      )
    } else {
      out[key] = options[key]
    }
  }
  return { ...out, ...body }
}

/** A request body, with what was not sent as asked. */
export interface Built<B> {
  readonly body: B
  readonly warnings: ReadonlyArray<string>
}

/**
 * The `providerOptions` entries a provider reads: its API's (`openai`, `anthropic`), then, for a provider registered
 * under another name over that API, its own.
 */
export const optionNamesOf = (api: string, provider: string): ReadonlyArray<string> =>
  provider === api ? [api] : [api, provider]
