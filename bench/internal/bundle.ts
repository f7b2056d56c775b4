/**
 * Builds each contender into one JavaScript file, so it runs on plain `node` the way users run built
 * packages. Under tsx, Capstan's TypeScript sources and tsx's own hooks add about 130 MB to the process
 * before the first request, which the peak RSS figures would otherwise include.
 *
 * esbuild is not a dependency of the workspace; it is reached through tsx, which depends on it.
 */
import { createRequire } from "node:module"

/** The part of esbuild's API used here. */
interface Esbuild {
  readonly build: (options: {
    readonly entryPoints: ReadonlyArray<string>
    readonly outfile: string
    readonly bundle: true
    readonly platform: "node"
    readonly format: "esm"
    readonly conditions: ReadonlyArray<string>
    readonly banner: { readonly js: string }
    readonly logLevel: "warning"
  }) => Promise<unknown>
}

const loadEsbuild = (): Esbuild => {
  try {
    const here = createRequire(import.meta.url)
    return createRequire(here.resolve("tsx/package.json"))("esbuild") as Esbuild
  } catch (cause) {
    throw new Error("bench: cannot load esbuild through tsx to bundle the contenders; run with --tsx instead", { cause })
  }
}

// Bundled CommonJS dependencies call `require`, which an ES module does not have.
const REQUIRE_SHIM = "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);"

/** Bundles `entry` (a TypeScript file) into `outfile`, resolving `@capstan/*` to their sources. */
export const bundle = async (entry: string, outfile: string): Promise<void> => {
  await loadEsbuild().build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    conditions: ["@capstan/source"],
    banner: { js: REQUIRE_SHIM },
    logLevel: "warning"
  })
}
