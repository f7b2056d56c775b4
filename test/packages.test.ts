/**
 * What each published package carries and promises: `pnpm pack` tarballs with README.md and LICENSE, caret
 * ranges (effect as a peer, never an exact pin, never a `workspace:` protocol left over), its own `build`
 * script, and an `engines.node` that covers what its runtime dependencies declare and that the READMEs repeat.
 *
 * Packing runs the `pnpm` that runs the suite (`npx -y pnpm@10 test` puts it on PATH), with `ignore-scripts`
 * so that no build runs here; nothing reaches the network.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { gunzipSync } from "node:zlib"

const repoRoot = fileURLToPath(new URL("..", import.meta.url))
const packages = ["core", "providers", "cli", "cluster"] as const

interface Manifest {
  readonly name: string
  readonly version: string
  readonly files?: ReadonlyArray<string>
  readonly scripts?: Readonly<Record<string, string>>
  readonly engines?: { readonly node?: string }
  readonly dependencies?: Readonly<Record<string, string>>
  readonly peerDependencies?: Readonly<Record<string, string>>
  readonly devDependencies?: Readonly<Record<string, string>>
}

const readJson = <A>(path: string): A => JSON.parse(readFileSync(path, "utf8")) as A

/** The entries of a gzipped tar (ustar): path → content. */
const untar = (gzipped: Buffer): Map<string, Buffer> => {
  const tar = gunzipSync(gzipped)
  const entries = new Map<string, Buffer>()
  const text = (start: number, length: number) =>
    tar.subarray(start, start + length).toString("utf8").replace(/\0.*$/s, "")
  for (let offset = 0; offset + 512 <= tar.length;) {
    const name = text(offset, 100)
    if (name === "") break
    const prefix = text(offset + 345, 155)
    const size = Number.parseInt(text(offset + 124, 12).trim(), 8)
    const body = offset + 512
    entries.set(prefix === "" ? name : `${prefix}/${name}`, tar.subarray(body, body + size))
    offset = body + Math.ceil(size / 512) * 512
  }
  return entries
}

interface Packed {
  readonly listed: ReadonlyArray<string>
  readonly manifest: Manifest
  readonly entries: Map<string, Buffer>
}

const pack = (dir: string): Packed => {
  const destination = mkdtempSync(join(tmpdir(), "capstan-pack-"))
  try {
    const result = spawnSync("pnpm", [
      "pack",
      "--config.ignore-scripts=true",
      "--json",
      "--pack-destination",
      destination
    ], {
      cwd: dir,
      encoding: "utf8",
      timeout: 60_000
    })
    if (result.error !== undefined || result.status !== 0) {
      throw new Error(
        `pnpm pack failed in ${dir} (run the suite with \`npx -y pnpm@10 test\`, which puts pnpm on PATH): ` +
          `${result.error?.message ?? result.stderr}`
      )
    }
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf("{"))) as {
      readonly filename: string
      readonly files: ReadonlyArray<{ readonly path: string }>
    }
    const entries = untar(readFileSync(join(destination, report.filename.replace(/^.*\//, ""))))
    const manifest = JSON.parse(entries.get("package/package.json")!.toString("utf8")) as Manifest
    return { listed: report.files.map((file) => file.path), manifest, entries }
  } finally {
    rmSync(destination, { recursive: true, force: true })
  }
}

/** `>=22.19.0` → [22, 19, 0]; the floor of `^22.12.0 || ^24.0.0` is [22, 12, 0]. */
const floorOf = (range: string): ReadonlyArray<number> => {
  const versions = [...range.matchAll(/(\d+)\.(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])])
  expect(versions.length, `a version in "${range}"`).toBeGreaterThan(0)
  return versions.reduce((a, b) => (compare(a, b) <= 0 ? a : b))
}

const compare = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number =>
  a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!

const rootLicense = readFileSync(join(repoRoot, "LICENSE"), "utf8")
const rootReadme = readFileSync(join(repoRoot, "README.md"), "utf8")

describe("packages", () => {
  it("the root LICENSE is MIT", () => {
    expect(rootLicense).toMatch(/^MIT License\n/)
    for (const name of packages) {
      expect(
        readJson<Manifest & { readonly license: string }>(join(repoRoot, "packages", name, "package.json")).license
      )
        .toBe("MIT")
    }
  })

  for (const name of packages) {
    describe(`@capstan/${name}`, () => {
      const dir = join(repoRoot, "packages", name)
      const source = readJson<Manifest>(join(dir, "package.json"))
      // Packed once, by whichever of the two tarball tests runs first.
      let tarball: Packed | undefined
      const packed = () => (tarball ??= pack(dir))

      it("its pnpm pack tarball carries README.md, CHANGELOG.md and LICENSE (the root's), and its sources", () => {
        const { entries, listed } = packed()
        expect(listed).toEqual(
          expect.arrayContaining(["README.md", "CHANGELOG.md", "LICENSE", "package.json", "src/index.ts"])
        )
        expect(entries.get("package/CHANGELOG.md")?.toString("utf8")).toMatch(
          new RegExp(`^# @capstan/${name}\\n\\n## ${source.version.replaceAll(".", "\\.")}\\n`)
        )
        expect(entries.get("package/LICENSE")?.toString("utf8")).toBe(rootLicense)
        expect(entries.get("package/README.md")?.toString("utf8")).toContain(`# @capstan/${name}`)
        expect(listed.filter((path) => /\.test\.|^node_modules\/|tsbuildinfo/.test(path))).toEqual([])
        // `capstan demo` runs on the data set it ships.
        if (name === "cli") {
          expect(listed).toEqual(
            expect.arrayContaining([
              "data/review.schema.json",
              "data/reviews.csv",
              "data/reviews.jsonl",
              "data/template.txt"
            ])
          )
        }
      }, 120_000)

      it("its tarball's manifest takes effect as a peer and everything with caret ranges", () => {
        const { manifest } = packed()
        expect(manifest.peerDependencies?.effect).toBe("^4.1.5")
        expect(manifest.dependencies?.effect).toBeUndefined()
        const ranges = { ...manifest.dependencies, ...manifest.peerDependencies }
        for (const [dependency, range] of Object.entries(ranges)) {
          expect(range, `${dependency} in @capstan/${name}`).toMatch(/^\^\d+\.\d+\.\d+$/)
        }
        for (const dependency of Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith("@capstan/"))) {
          expect(manifest.dependencies?.[dependency]).toBe(`^${source.version}`)
        }
      }, 120_000)

      it("has its own build script", () => {
        expect(source.scripts?.build).toBe("tsc -b tsconfig.build.json")
        expect(source.scripts?.prepack).toBe("pnpm run build")
      })

      it("asks for a Node that every runtime dependency supports, and the READMEs say the same", () => {
        const engine = source.engines?.node
        expect(engine).toMatch(/^>=\d+\.\d+\.0$/)
        const floor = floorOf(engine!)
        const runtime = [...Object.keys(source.dependencies ?? {}), ...Object.keys(source.peerDependencies ?? {})]
        for (const dependency of runtime) {
          const declared = readJson<Manifest>(join(dir, "node_modules", dependency, "package.json")).engines?.node
          if (declared === undefined) continue
          expect(compare(floor, floorOf(declared)), `${engine} covers ${dependency}'s ${declared}`)
            .toBeGreaterThanOrEqual(0)
        }
        // The test runner sets the lowest Node the packages are checked on.
        const vitest = readJson<Manifest>(join(repoRoot, "node_modules", "vitest", "package.json")).engines?.node
        expect(compare(floor, floorOf(vitest!))).toBeGreaterThanOrEqual(0)
        const shown = `${floor[0]}.${floor[1]}`
        expect(readFileSync(join(dir, "README.md"), "utf8")).toContain(`Node.js ${shown} or newer`)
        expect(rootReadme).toContain(
          name === "cli" || name === "cluster" ? `\`@capstan/${name}\` ${shown} or newer` : `Node.js ${shown} or newer`
        )
      })
    })
  }
})
