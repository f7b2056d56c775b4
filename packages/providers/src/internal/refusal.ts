/**
 * What Capstan's HTTP transport refuses to do, as an error the SDKs pass on (as the cause of their connection
 * error) and the failure classifier recognizes: an answer larger than the transport's limits, a redirect it does
 * not follow, a request after its scope closed. None of them changes by retrying, so each becomes an
 * `InvalidRequest` (not retryable) that says what to change.
 *
 * The messages never say "timed out": the SDKs read that wording as a timeout.
 *
 * @internal
 */

/** A URL as errors show it: origin and path, never userinfo or query (either may hold a credential). */
const shown = (url: URL | string): string => {
  const parsed = typeof url === "string" ? new URL(url) : url
  return `${parsed.origin}${parsed.pathname}`
}

const mib = (bytes: number): string => bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`

/** A request or answer Capstan's HTTP transport will not handle, and how to fix it. */
export class TransportRefusal extends Error {
  override readonly name = "TransportRefusal"

  /** The answer is larger than the transport holds: on the wire, or once decompressed. */
  static tooLarge(url: URL | string, which: "wire" | "decoded", limit: number): TransportRefusal {
    const option = which === "wire" ? "maxBodyBytes" : "maxDecodedBytes"
    const what = which === "wire" ? "its body" : "its decompressed body"
    return new TransportRefusal(
      `the answer from ${shown(url)} was refused: ${what} is larger than ${
        mib(limit)
      }. Ask for less (n, max_tokens), ` +
        `check base_url, or raise ${option} (Providers.layerWith({ ${option} }) / HttpTransport.make({ ${option} }))`
    )
  }

  /** A redirect the transport does not follow. */
  static redirect(url: URL, status: number, location: URL, reason: string): TransportRefusal {
    return new TransportRefusal(
      `${shown(url)} answered ${status}, redirecting to ${
        shown(location)
      }, which Capstan does not follow: ${reason}. ` +
        `Set base_url to the address the server names`
    )
  }

  /** A request sent through a transport whose scope has closed. */
  static closed(url: URL): TransportRefusal {
    return new TransportRefusal(
      `the request to ${shown(url)} was not sent: Capstan's HTTP transport was closed with the scope that made it ` +
        `(Providers.layer or the generator's layer). Use the generator inside that scope`
    )
  }
}

/** The refusal behind an error, looking through the causes the SDKs wrap it in. */
export const refusalIn = (error: unknown): TransportRefusal | undefined => {
  for (let current = error, depth = 0; depth < 5; depth++) {
    if (current instanceof TransportRefusal) return current
    if (!(current instanceof Error)) return undefined
    current = current.cause
  }
  return undefined
}
