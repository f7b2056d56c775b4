import {
  GenerateParams,
  Generation,
  Generator,
  GeneratorRegistry,
  Identifier,
  type InvalidIdentifier,
  Usage
} from "@capstan/core"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Result } from "effect"

// Parsing is checked against providers shaped like the real ones, so these tests do not depend on the
// providers package.
const providers: ReadonlyArray<Identifier.ProviderSyntax> = [
  {
    name: "openai",
    models: /^(gpt-|o[134])/,
    settings: {
      api_key: { kind: "secret", description: "" },
      base_url: { kind: "string", description: "" },
      organization: { kind: "string", description: "" }
    }
  },
  { name: "anthropic", models: /^claude-/, settings: { api_key: { kind: "secret", description: "" } } },
  { name: "ollama", settings: { base_url: { kind: "string", description: "" } } },
  { name: "local", settings: { stream: { kind: "bool", description: "" }, layers: { kind: "int", description: "" } } }
]
const parse = Identifier.parseWith(providers)
const ok = (text: string) => {
  const result = parse(text)
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}
const fail = (text: string): InvalidIdentifier => {
  const result = parse(text)
  if (Result.isSuccess(result)) throw new Error(`expected ${text} to fail`)
  return result.failure
}

describe("Identifier", () => {
  it.each([
    "openai!gpt-4o-mini,temperature=0.5,max_tokens=100",
    "anthropic!claude-3-5-haiku-latest,stop=a;b;c",
    "ollama!llama3.1,base_url=http://localhost:11434/v1",
    "openai!gpt-4o,temperature=0,top_p=0.9,seed=7,n=3,presence_penalty=-0.5,frequency_penalty=1.5,timeout=30",
    "local!my-model,stream=true,layers=12",
    "openai!gpt-4o-mini,rpm=600,tpm=100000,max_connections=8,min_delay_ms=2.5,max_retries=3"
  ])("round-trips %s exactly", (text) => {
    expect(Identifier.format(ok(text))).toBe(text)
    expect(ok(Identifier.format(ok(text)))).toEqual(ok(text))
  })

  it("types values by key", () => {
    const id = ok("openai!gpt-4o-mini,temperature=0.5,max_tokens=100,stop=a;b;c,seed=-3")
    expect(id.provider).toBe("openai")
    expect(id.model).toBe("gpt-4o-mini")
    expect(id.params.temperature).toBe(0.5)
    expect(id.params.maxTokens).toBe(100)
    expect(id.params.stop).toEqual(["a", "b", "c"])
    expect(id.params.seed).toBe(-3)
    const local = ok("local!m,stream=false,layers=4")
    expect(local.setting("stream")).toBe(false)
    expect(local.setting("layers")).toBe(4)
  })

  it.each([
    ["gpt-4o-mini", "openai"],
    ["o1-mini", "openai"],
    ["o3", "openai"],
    ["o4-mini", "openai"],
    ["claude-3-5-haiku-latest", "anthropic"]
  ])("infers the provider of %s", (model, provider) => {
    const id = ok(`${model},temperature=1`)
    expect(id.provider).toBe(provider)
    expect(Identifier.format(id)).toBe(`${provider}!${model},temperature=1`)
  })

  it("fails for a model no provider claims, listing the registered providers", () => {
    const e = fail("llama3.1")
    expect(e.reason).toContain(`no provider is known for the model "llama3.1"`)
    expect(e.message).toContain("openai, anthropic, ollama, local")
    expect(e.message).toContain("provider!llama3.1")
  })

  it("fails for an unknown provider, listing the registered ones", () => {
    const e = fail("cohere!command-r")
    expect(e.reason).toBe(`unknown provider "cohere"`)
    expect(e.position).toBe(0)
    expect(e.message).toContain("Registered providers: openai, anthropic, ollama, local")
  })

  it("names the key and the expected type for a badly typed value", () => {
    const e = fail("openai!gpt-4o,temperature=hot")
    expect(e.key).toBe("temperature")
    expect(e.reason).toBe(`temperature expects a number, got "hot"`)
    expect(e.position).toBe("openai!gpt-4o,temperature=".length)
    expect(fail("openai!gpt-4o,max_tokens=1.5").reason).toBe(`max_tokens expects an integer, got "1.5"`)
    expect(fail("local!m,stream=yes").reason).toBe(`stream expects true or false, got "yes"`)
    expect(fail("local!m,layers=").reason).toBe(`layers expects an integer, got ""`)
  })

  it("names the key and the provider for an unknown key", () => {
    const e = fail("anthropic!claude-3-5-haiku-latest,base_url=x")
    expect(e.key).toBe("base_url")
    expect(e.reason).toBe(`unknown key "base_url" for provider "anthropic"`)
    expect(e.message).toContain("Known keys:")
    expect(fail("openai!gpt-4o,maxTokens=5").hint).toBe("Did you mean max_tokens?")
  })

  it("rejects out-of-range params through the GenerateParams schema", () => {
    const e = fail("openai!gpt-4o,temperature=-1")
    expect(e.key).toBe("temperature")
    expect(e.reason).toContain("temperature is out of range")
    expect(fail("openai!gpt-4o,n=0").key).toBe("n")
    expect(fail("openai!gpt-4o,top_p=2").key).toBe("top_p")
  })

  it.each([
    ["", "it is empty"],
    ["   ", "it is empty"],
    ["a!b!c", "more than one '!' before the first ','"],
    ["!gpt-4o", "the provider before '!' is empty"],
    ["openai!", "the model name is empty"],
    ["openai!gpt-4o,", "an empty key=value pair (a stray ',')"],
    ["openai!gpt-4o,,temperature=1", "an empty key=value pair (a stray ',')"],
    ["openai!gpt-4o,temperature", `"temperature" is not key=value`],
    ["openai!gpt-4o,=1", `a value without a key in "=1"`],
    ["openai!gpt-4o,seed=1,seed=2", `the key "seed" is given twice`]
  ])("rejects the malformed identifier %j: %s", (text, reason) => {
    expect(fail(text).reason).toBe(reason)
  })

  it("gives the position of a syntax error", () => {
    expect(fail("a!b!c").position).toBe(3)
    expect(fail("openai!gpt-4o,,temperature=1").position).toBe(13)
  })

  it("holds secrets as Redacted and never prints them", () => {
    const id = ok("openai!gpt-4o,api_key=sk-secret-123")
    const key = id.setting("api_key")
    assert.isTrue(Redacted.isRedacted(key))
    expect(Redacted.value(key as Redacted.Redacted<string>)).toBe("sk-secret-123")
    expect(Identifier.format(id)).toBe("openai!gpt-4o,api_key=***")
    expect(String(id)).not.toContain("sk-secret-123")
    expect(JSON.stringify(id)).not.toContain("sk-secret-123")
    expect(Identifier.format(id, { secrets: "show" })).toBe("openai!gpt-4o,api_key=sk-secret-123")
  })

  it("masks secrets in errors about identifiers that hold one", () => {
    const e = fail("openai!gpt-4o,api_key=sk-secret-123,temperature=hot")
    expect(e.message).not.toContain("sk-secret-123")
    expect(e.identifier).toBe("openai!gpt-4o,api_key=***,temperature=hot")
    const unknownProvider = fail("nope!m,api_key=sk-secret-123")
    expect(unknownProvider.message).not.toContain("sk-secret-123")
    expect(fail("nope!m,token=abc").message).not.toContain("abc")
  })

  it("withParams replaces the params that are printed, keeping the written key order", () => {
    const id = ok("openai!gpt-4o,seed=1,temperature=0.5")
    const merged = Identifier.withParams(id, GenerateParams.merge(id.params, { temperature: 0.9, n: 2 }))
    expect(Identifier.format(merged)).toBe("openai!gpt-4o,seed=1,temperature=0.9,n=2")
    expect(Identifier.format(id)).toBe("openai!gpt-4o,seed=1,temperature=0.5")
  })

  it.effect("parse reads the registry in context", () =>
    Effect.gen(function*() {
      const id = yield* GeneratorRegistry.parse("mock!echo,temperature=0.1")
      expect(id.provider).toBe("mock")
      const e = yield* Effect.flip(GeneratorRegistry.parse("openai!gpt-4o"))
      expect(e.message).toContain("unknown provider \"openai\"")
      // a provider of @capstan/providers: the hint says which layer registers it
      expect(e.hint).toBe(
        "Provide Providers.layer from @capstan/providers, which registers \"openai\" (e.g. Layer.provide(Providers.layer))"
      )
      expect((yield* Effect.flip(GeneratorRegistry.parse("claude-3-5-haiku-latest"))).hint).toContain(
        "registers \"anthropic\""
      )
      expect((yield* Effect.flip(GeneratorRegistry.parse("nobody!m"))).message).toContain("Registered providers: mock")
      const custom: GeneratorRegistry.Provider = {
        name: "custom",
        description: "test",
        settings: { depth: { kind: "int", description: "" } },
        env: [],
        make: (identifier) =>
          Effect.succeed({
            identifier,
            generate: () => Effect.succeed(Generation.fromTexts(["x"], Usage.empty)),
            complete: () => Effect.succeed(Generation.fromTexts(["x"], Usage.empty))
          })
      }
      const withCustom = yield* GeneratorRegistry.parse("custom!m,depth=2").pipe(
        Effect.provide(GeneratorRegistry.register(custom))
      )
      expect(withCustom.setting("depth")).toBe(2)
      const names = yield* GeneratorRegistry.names.pipe(Effect.provide(GeneratorRegistry.register(custom)))
      expect(names).toEqual(["mock", "custom"])
      // registering is layered: a generator built from the registry sees both
      const both = yield* Generator.chat("hi").pipe(
        Effect.provide(Generator.layer("custom!m").pipe(Layer.provide(GeneratorRegistry.register(custom))))
      )
      expect(both.last?.text).toBe("x")
    }))
})

// Of OpenAI's shape; TAIL is the part that must not appear anywhere, even with the prefix masked.
const KEY = "sk-live-4f3e2d1c0b9a8877zz"
const TAIL = "4f3e2d1c0b9a8877zz"
const noSecret = (e: InvalidIdentifier) => {
  for (const text of [e.message, e.identifier, e.reason, e.hint ?? "", e.key ?? "", JSON.stringify(e)]) {
    expect(text).not.toContain(TAIL)
  }
}

describe("Identifier: a key typed into the wrong place", () => {
  it.each([
    [`openai!gpt-4o-mini;api_key=${KEY}`, "the model name contains ';'", 18],
    [`openai!gpt-4o-mini=${KEY}`, "the model name contains '='", 18],
    [`openai!gpt-4o-mini api_key=${KEY}`, "the model name contains whitespace", 18],
    [`gpt-4o-mini;api_key=${KEY},temperature=0`, "the model name contains ';'", 11]
  ])("refuses the model name of %j, pointing at the typo", (text, reason, position) => {
    const e = fail(text)
    expect(e.reason).toBe(reason)
    expect(e.position).toBe(position)
    expect(e.hint).toContain("','")
    noSecret(e)
  })

  it("refuses a model shaped like a key, and never sends or prints it", () => {
    const e = fail(`openai!${KEY}`)
    expect(e.reason).toBe("the model name looks like an API key")
    expect(e.hint).toContain("api_key=...")
    expect(e.identifier).toBe("openai!***")
    noSecret(e)
    noSecret(fail(KEY))
    // A hash in a path names a model's files, and a ':' tags a model: both stay models.
    const local: ReadonlyArray<Identifier.ProviderSyntax> = [{ name: "vllm", settings: {} }]
    const model = "/models/snapshots/0e9e39f249a16976918f6564b8830bc894c89659"
    assert.isTrue(Result.isSuccess(Identifier.parseWith(local)(`vllm!${model}`)))
    expect(ok("ollama!llama3.1:8b").model).toBe("llama3.1:8b")
  })

  it("masks the value of a mistyped key name and suggests the right one", () => {
    const typo = fail(`openai!gpt-4o-mini,api_kye=${KEY}`)
    expect(typo.reason).toBe(`unknown key "api_kye" for provider "openai"`)
    expect(typo.identifier).toBe("openai!gpt-4o-mini,api_kye=***")
    expect(typo.hint).toBe("Did you mean api_key?")
    noSecret(typo)
    const auth = fail(`openai!gpt-4o-mini,auth=${KEY}`)
    expect(auth.hint).toBe("Did you mean api_key?")
    noSecret(auth)
    // masked by its name alone, however the value looks
    expect(fail("openai!gpt-4o-mini,password=hunter2,x=1").identifier).toBe("openai!gpt-4o-mini,password=***,x=1")
    expect(fail("openai!gpt-4o-mini,temprature=1").hint).toBe("Did you mean temperature?")
    expect(fail("openai!gpt-4o-mini,rmp=1").hint).toBe("Did you mean rpm?")
  })

  it("masks a bare key, and a key written with ':', saying how to write them", () => {
    const bare = fail(`openai!gpt-4o-mini,${KEY}`)
    expect(bare.reason).toBe(`"***" is not key=value`)
    expect(bare.hint).toContain("This looks like an API key: write api_key=...")
    noSecret(bare)
    const colon = fail(`openai!gpt-4o-mini,api_key:${KEY}`)
    expect(colon.reason).toBe(`"api_key:***" is not key=value`)
    expect(colon.hint).toBe("Write api_key=..., with '=' between the key and its value")
    noSecret(colon)
    noSecret(fail(`openai!gpt-4o-mini,=${KEY}`))
    noSecret(fail(`openai!gpt-4o-mini,temperature=${KEY}`))
    noSecret(fail(`openai!gpt-4o-mini,${KEY}=1`))
    noSecret(fail(`cohere!${KEY}`))
  })

  it("refuses a stop list that swallowed a setting or a key (a ';' typed for a ',')", () => {
    const e = fail(`openai!gpt-4o-mini,stop=###;api_key=${KEY}`)
    expect(e.key).toBe("stop")
    expect(e.reason).toBe(`an item of stop looks like an API key: "api_key=***"`)
    noSecret(e)
    expect(fail("openai!gpt-4o-mini,stop=a;temperature=0").reason).toBe(
      `an item of stop looks like a setting: "temperature=0"`
    )
    expect(ok("openai!gpt-4o-mini,stop=a=b;c").params.stop).toEqual(["a=b", "c"])
  })
})

describe("Identifier.maskSecrets", () => {
  it("masks by exact secret names, by the shape of a value and in URLs, and keeps everything else", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["openai!gpt-4o,max_tokens=100", "openai!gpt-4o,max_tokens=100"],
      ["openai!gpt-4o,api_key=abc,max_tokens=100,tpm=5", "openai!gpt-4o,api_key=***,max_tokens=100,tpm=5"],
      ["openai!gpt-4o,token=abc", "openai!gpt-4o,token=***"],
      ["openai!gpt-4o,my_token_count=3", "openai!gpt-4o,my_token_count=3"],
      ["openai!gpt-4o;api_key=abc", "openai!gpt-4o;api_key=***"],
      ["openai!gpt-4o,password: abc", "openai!gpt-4o,password: ***"],
      ["openai!gpt-4o,auth=Bearer abc,seed=1", "openai!gpt-4o,auth=*** ***,seed=1"],
      [`openai!gpt-4o,whatever=${KEY}`, "openai!gpt-4o,whatever=***"],
      [`${KEY}!gpt-4o`, "***!gpt-4o"],
      [
        "openai!gpt-4o,base_url=https://bob:hunter2@proxy.example/v1?key=abc&region=eu",
        "openai!gpt-4o,base_url=https://***@proxy.example/v1?key=***&region=eu"
      ]
    ]
    for (const [text, masked] of cases) expect(Identifier.maskSecrets(text), text).toBe(masked)
    expect(Identifier.maskSecrets("x!m,credentials_file=abc,depth=2", ["credentials_file"])).toBe(
      "x!m,credentials_file=***,depth=2"
    )
  })
})

describe("Identifier.format", () => {
  it("prints a base_url without its credentials, holds it redacted, and still hands the provider the real URL", () => {
    const url = "https://bob:hunter2@proxy.example/v1?key=qk-77&region=eu"
    const id = ok(`openai!gpt-4o,base_url=${url}`)
    expect(Identifier.format(id)).toBe("openai!gpt-4o,base_url=https://***@proxy.example/v1?key=***&region=eu")
    expect(String(id)).not.toContain("hunter2")
    expect(JSON.stringify(id)).not.toContain("hunter2")
    expect(JSON.stringify(id)).not.toContain("qk-77")
    const held = id.setting("base_url")
    assert.isTrue(Redacted.isRedacted(held))
    expect(Redacted.value(held as Redacted.Redacted<string>)).toBe(url)
    expect(Identifier.format(id, { secrets: "show" })).toBe(`openai!gpt-4o,base_url=${url}`)
    const plain = ok("openai!gpt-4o,base_url=http://localhost:8000/v1")
    expect(plain.setting("base_url")).toBe("http://localhost:8000/v1")
  })

  it("masks values shaped like keys and settings named like secrets, whatever their kind", () => {
    const id = ok(`openai!gpt-4o,organization=${KEY}`)
    expect(Identifier.format(id)).toBe("openai!gpt-4o,organization=***")
    assert.isTrue(Redacted.isRedacted(id.setting("organization")))
    const made = Identifier.make({
      provider: "x",
      model: "m",
      settings: {
        api_key: "plain-text-key",
        token: "t",
        note: `see ${KEY}`,
        labelled: Redacted.make("s", { label: "shown?" })
      }
    })
    expect(Identifier.format(made)).toBe("x!m,api_key=***,token=***,note=see ***,labelled=***")
    expect(Identifier.format(Identifier.make({ provider: "x", model: "m", params: { stop: [KEY, "\n"] } }))).toBe(
      "x!m,stop=***;\n"
    )
    // by exact names: max_tokens and tpm are not secrets
    expect(Identifier.format(ok("openai!gpt-4o,max_tokens=100,tpm=1000"))).toBe("openai!gpt-4o,max_tokens=100,tpm=1000")
  })
})

describe("Identifier: settings and params out of range", () => {
  it.each([
    ["rpm=0", "rpm", "expected a value greater than or equal to 1, got 0"],
    ["rpm=-5", "rpm", "expected a value greater than or equal to 1, got -5"],
    ["tpm=0", "tpm", "expected a value greater than or equal to 1, got 0"],
    ["max_connections=0", "max_connections", "expected a value greater than or equal to 1, got 0"],
    ["max_retries=-1", "max_retries", "expected a value greater than or equal to 0, got -1"],
    ["min_delay_ms=-10", "min_delay_ms", "expected a value greater than or equal to 0, got -10"],
    ["temperature=5", "temperature", "expected a value between 0 and 2, got 5"],
    ["top_p=1.5", "top_p", "expected a value between 0 and 1, got 1.5"],
    ["presence_penalty=-3", "presence_penalty", "expected a value between -2 and 2, got -3"],
    ["frequency_penalty=2.5", "frequency_penalty", "expected a value between -2 and 2, got 2.5"],
    ["max_tokens=0", "max_tokens", "expected a value greater than or equal to 1, got 0"],
    ["n=0", "n", "expected a value greater than or equal to 1, got 0"],
    ["timeout=0", "timeout", "expected a value greater than 0, got 0"]
  ])("%s fails naming the key, where it is and its range", (setting, key, expected) => {
    const text = `openai!gpt-4o,seed=1,${setting}`
    const e = fail(text)
    expect(e.key).toBe(key)
    expect(e.reason).toBe(`${key} is out of range: ${expected}`)
    expect(e.position).toBe(text.indexOf("=", "openai!gpt-4o,seed=1,".length) + 1)
    expect(e.hint).toBe(`Give ${key} a value ${expected.replace(/^expected a value /, "").replace(/, got .*$/, "")}`)
  })

  it.each([
    ["rpm", "1", "0"],
    ["max_connections", "1", "0"],
    ["max_retries", "0", "-1"],
    ["min_delay_ms", "0", "-0.5"],
    ["temperature", "2", "2.01"],
    ["presence_penalty", "-2", "-2.01"],
    ["frequency_penalty", "2", "2.01"]
  ])("%s=%s is the edge of the range: accepted, and %s refused", (key, edge, beyond) => {
    expect(Identifier.format(ok(`openai!gpt-4o,${key}=${edge}`))).toBe(`openai!gpt-4o,${key}=${edge}`)
    expect(fail(`openai!gpt-4o,${key}=${beyond}`).key).toBe(key)
  })

  it("the GenerateParams schema carries the same ranges", () => {
    expect(() => GenerateParams.make({ temperature: 5 })).toThrow()
    expect(() => GenerateParams.make({ presencePenalty: 3 })).toThrow()
    expect(() => GenerateParams.make({ frequencyPenalty: -2.5 })).toThrow()
    expect(GenerateParams.make({ temperature: 2, presencePenalty: -2, frequencyPenalty: 2 }).temperature).toBe(2)
  })

  it("a provider's own numeric settings take a minimum too", () => {
    const withMinimum: ReadonlyArray<Identifier.ProviderSyntax> = [
      { name: "p", settings: { depth: { kind: "int", description: "levels", minimum: 2 } } }
    ]
    const result = Identifier.parseWith(withMinimum)("p!m,depth=1")
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      expect(result.failure.reason).toBe("depth is out of range: expected a value greater than or equal to 2, got 1")
    }
  })
})
