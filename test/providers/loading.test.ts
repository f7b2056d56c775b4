import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"

/**
 * In a fresh Node process (this one has loaded everything already): which SDKs get imported, after importing
 * `@capstan/providers`, then after one request through the `openai` provider.
 */
const script = `
import { registerHooks } from "node:module"
const seen = new Set()
registerHooks({
  resolve(specifier, context, next) {
    if (specifier === "openai" || specifier === "@anthropic-ai/sdk") seen.add(specifier)
    return next(specifier, context)
  }
})
const { Identifier } = await import("@capstan/core")
const { OpenAI } = await import("@capstan/providers")
const { Effect, Redacted } = await import("effect")
const afterImport = [...seen]
const failure = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const generator = yield* OpenAI.makeGenerator(Identifier.make({ provider: "openai", model: "m" }), {
    apiKey: Redacted.make("sk-test"),
    baseURL: "http://127.0.0.1:9/v1"
  })
  return yield* Effect.flip(generator.generate({ messages: [], params: {} }))
})))
console.log(JSON.stringify({ afterImport, afterRequest: [...seen], failure: failure._tag }))
`

describe("SDK loading", () => {
  it("importing the providers loads no SDK; a request loads its own SDK only", () => {
    const out = execFileSync(
      process.execPath,
      ["--conditions=@capstan/source", "--import", "tsx", "--input-type=module", "-e", script],
      { encoding: "utf8", timeout: 60_000 }
    )
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as {
      afterImport: Array<string>
      afterRequest: Array<string>
      failure: string
    }
    assert.deepStrictEqual(result.afterImport, [])
    assert.deepStrictEqual(result.afterRequest, ["openai"])
    // the refused connection is classified with the SDK's own error classes, once it is loaded
    assert.strictEqual(result.failure, "ConnectionError")
  })
})
