import { Secrets } from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"

describe("Secrets", () => {
  it("names secrets exactly, never by a substring", () => {
    for (const name of ["api_key", "API_KEY", "api-key", "token", "password", "authorization", "key", "sig"]) {
      expect(Secrets.isSecretName(name), name).toBe(true)
    }
    for (const name of ["max_tokens", "tokens", "keyword", "monkey", "top_p", "base_url", "secretary"]) {
      expect(Secrets.isSecretName(name), name).toBe(false)
    }
  })

  it.each([
    "sk-proj-abc123def456",
    "sk-ant-api03-abcdefgh",
    "sk-live-9f8e7d6c5b4a39281706",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
    "gsk_0123456789abcdefABCDEF0123",
    "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
    "0123456789abcdef0123456789abcdef",
    "Bearer aZ9xY8wV7uT6sR5qP4oN3mL2kJ1iH0gF"
  ])("%s looks like a key", (text) => {
    expect(Secrets.looksLikeKey(text)).toBe(true)
  })

  it.each([
    "gpt-4o-mini",
    "claude-3-5-haiku-20241022",
    "meta-llama/Llama-3.1-8B-Instruct",
    "ft:gpt-4o-mini-2024-07-18:my-org:custom:9XyZabc1",
    "hf_llama",
    "sk-1",
    "internationalizationandlocalizationsupport",
    "org-AbC123dEf456GhI789jKl012",
    "https://api.openai.com/v1"
  ])("%s does not look like a key", (text) => {
    expect(Secrets.looksLikeKey(text)).toBe(false)
  })

  it("masks the credentials of URLs and keys in a text, keeping where the URL points", () => {
    expect(Secrets.mask("https://bob:hunter2@proxy.example:8443/v1?key=abc&region=eu#access_token=xyz"))
      .toBe("https://***@proxy.example:8443/v1?key=***&region=eu#access_token=***")
    expect(Secrets.mask("https://proxy.example/v1?sig=abc&x=sk-proj-abc123def456")).toBe(
      "https://proxy.example/v1?sig=***&x=***"
    )
    expect(Secrets.mask("https://TOKEN@host/v1/0123456789abcdef0123456789abcdef/chat")).toBe(
      "https://***@host/v1/***/chat"
    )
    expect(Secrets.mask("http://localhost:11434/v1?max_tokens=5")).toBe("http://localhost:11434/v1?max_tokens=5")
  })

  it("lists the credentials of a URL, for scrubbing messages that quote them", () => {
    expect(Secrets.credentialsOf("https://bob:p%40ss@host/v1?key=abc&region=eu")).toEqual([
      "bob:p%40ss",
      "bob:p@ss",
      "p%40ss",
      "p@ss",
      "abc"
    ])
    expect(Secrets.credentialsOf("https://TOKEN123@host")).toEqual(["TOKEN123"])
    expect(Secrets.credentialsOf("http://localhost:8000/v1")).toEqual([])
    expect(Secrets.credentialsOf("not a url")).toEqual([])
  })

  it("scrubs given secrets, URL credentials and provider-shaped keys from a message, keeping ids", () => {
    expect(Secrets.scrub("Incorrect API key provided: my-own-key", ["my-own-key"])).toBe(
      "Incorrect API key provided: ***"
    )
    expect(Secrets.scrub("key sk-ant-api03-abcdefgh and sk-proj-****wxyz", [])).toBe("key sk-ant-*** and sk-proj-***")
    expect(Secrets.scrub("GET http://bob:hunter2@host/v1?api_key=zz failed", [])).toBe(
      "GET http://***@host/v1?api_key=*** failed"
    )
    expect(Secrets.scrub("proxy says: bad password hunter2", ["bob:hunter2", "hunter2"])).toBe(
      "proxy says: bad password ***"
    )
    expect(Secrets.scrub("request req_0123456789abcdef0123456789abcdef failed", [])).toBe(
      "request req_0123456789abcdef0123456789abcdef failed"
    )
  })
})
