/**
 * Which requests Capstan's `node:http` transport may send itself, and which it hands to the global `fetch`
 * because sending them itself would change what the user configured or what the request is:
 *
 * - a proxy set in the environment (`HTTP(S)_PROXY`, `NODE_USE_ENV_PROXY`), which undici may honour and
 *   `node:http` does not, unless `NO_PROXY` / `no_proxy` exempts the host (then nothing would proxy it anyway);
 * - a global undici dispatcher the user set (`setGlobalDispatcher`: a proxy agent, custom TLS, a mock agent in
 *   tests, interceptors), which only the global `fetch` goes through;
 * - a body other than a string or bytes (`FormData` for the SDKs' file uploads, `Blob`, a stream,
 *   `URLSearchParams`): the global `fetch` encodes those (multipart boundaries, content types, streaming);
 * - a `Request` object or a URL that is not http(s).
 *
 * @internal
 */

/** The environment variables that configure a proxy for undici (and, with `NODE_USE_ENV_PROXY`, for Node). */
const proxyVariables = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NODE_USE_ENV_PROXY"] as const

interface NoProxyEntry {
  readonly hostname: string
  readonly port: number
  /** `*.example.com`: subdomains only, not the apex. */
  readonly subdomainsOnly: boolean
}

/** `NO_PROXY` as undici's `EnvHttpProxyAgent` reads it: `host`, `.host`, `*.host`, `host:port`, `[v6]:port`, `*`. */
const parseNoProxy = (value: string): ReadonlyArray<NoProxyEntry> =>
  value.split(/[,\s]/).flatMap((entry) => {
    if (entry === "") return []
    const v6 = /^\[(.+)\]:(\d+)$/.exec(entry)
    const bare = entry.replace(/^\[(.+)\]$/, "$1")
    const hostPort = v6 === null && (bare.match(/:/g) ?? []).length === 1 ? /^(.+):(\d+)$/.exec(bare) : null
    const host = v6?.[1] ?? hostPort?.[1] ?? bare
    const port = Number.parseInt(v6?.[2] ?? hostPort?.[2] ?? "0", 10)
    return [{
      hostname: host.replace(/^\*?\./, "").replace(/^(.+)\.$/, "$1").toLowerCase(),
      port,
      subdomainsOnly: entry.startsWith("*") && entry !== "*"
    }]
  })

const defaultPorts: Readonly<Record<string, number>> = { "http:": 80, "https:": 443 }

/** Whether `NO_PROXY` exempts the URL's host (and port) from the proxy. */
const exempt = (entries: ReadonlyArray<NoProxyEntry>, url: URL): boolean => {
  const host = url.hostname.replace(/^\[(.+)\]$/, "$1").replace(/^(.+)\.$/, "$1").toLowerCase()
  const port = url.port === "" ? defaultPorts[url.protocol] ?? 0 : Number(url.port)
  return entries.some((entry) =>
    (entry.port === 0 || entry.port === port) &&
    (entry.hostname === "*" || (!entry.subdomainsOnly && host === entry.hostname) ||
      host.endsWith(`.${entry.hostname}`))
  )
}

// The key undici (Node's own and the npm package) keeps the global dispatcher under.
const globalDispatcher = Symbol.for("undici.globalDispatcher.1")

/**
 * Whether a global dispatcher is one the user set. Node installs a plain `Agent` on the first `fetch`, and
 * `setGlobalDispatcher(new Agent())` with no options behaves the same, so only an `Agent` with no options set and
 * its own `dispatch` (not composed with interceptors, which return a proxy over it) counts as not set. Anything
 * else may proxy, pin TLS or mock, and goes through the global `fetch`.
 */
const isUserDispatcher = (dispatcher: unknown): boolean => {
  if (dispatcher === undefined) return false
  if (typeof dispatcher !== "object" || dispatcher === null) return true
  const prototype: unknown = Object.getPrototypeOf(dispatcher)
  if (dispatcher.constructor?.name !== "Agent" || typeof prototype !== "object" || prototype === null) return true
  if (!("dispatch" in prototype) || (dispatcher as { dispatch?: unknown }).dispatch !== prototype.dispatch) return true
  const key = Object.getOwnPropertySymbols(dispatcher).find((symbol) => symbol.description === "options")
  const options: unknown = key === undefined ? undefined : (dispatcher as Record<symbol, unknown>)[key]
  if (typeof options !== "object" || options === null) return true
  return Object.entries(options).some(([name, value]) =>
    value !== undefined && !(name === "maxOrigins" && value === Infinity)
  )
}

/** A body `node:http` can send as is. */
const isPlainBody = (body: RequestInit["body"]): boolean =>
  body === undefined || body === null || typeof body === "string" || body instanceof Uint8Array ||
  body instanceof ArrayBuffer

/**
 * The routing of one transport: the environment is read once, when the transport is made; the global dispatcher
 * on every request (a user may set it later), its verdict kept until it changes.
 */
export const router = (env: NodeJS.ProcessEnv = process.env) => {
  const proxied = proxyVariables.some((name) => (env[name] ?? "") !== "")
  const noProxy = proxied ? parseNoProxy(env["no_proxy"] ?? env["NO_PROXY"] ?? "") : []
  // Per host, only when a proxy is set: a batch talks to one or two hosts.
  const direct = new Map<string, boolean>()
  let dispatcher: unknown = undefined
  let userDispatcher = false
  return {
    /** Whether this transport sends the request itself, rather than the global `fetch`. */
    sendsItself: (url: URL, body: RequestInit["body"]): boolean => {
      if (url.protocol !== "http:" && url.protocol !== "https:") return false
      if (!isPlainBody(body)) return false
      const current = (globalThis as Record<symbol, unknown>)[globalDispatcher]
      if (current !== dispatcher) {
        dispatcher = current
        userDispatcher = isUserDispatcher(current)
      }
      if (userDispatcher) return false
      if (!proxied) return true
      const key = `${url.protocol}//${url.host}`
      let verdict = direct.get(key)
      if (verdict === undefined) direct.set(key, verdict = exempt(noProxy, url))
      return verdict
    }
  }
}
