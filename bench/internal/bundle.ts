/**
 * Builds each contender into one JavaScript file, so it runs on plain `node` the way users run built
 * packages. Under tsx, Capstan's TypeScript sources and tsx's own hooks add about 130 MB to the process
 * before the first request, which the peak RSS figures would otherwise include.
 *
 * esbuild is a root devDependency (the same version tsx uses).
 */
import { build } from "esbuild"

// Bundled CommonJS dependencies call `require`, which an ES module does not have.
const REQUIRE_SHIM =
  "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);"

/** Bundles `entry` (a TypeScript file) into `outfile`, resolving `@capstan/*` to their sources. */
export const bundle = async (entry: string, outfile: string): Promise<void> => {
  await build({
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
