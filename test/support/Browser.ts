/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, for the tests that load a page in a
 * real browser. A scoped resource: the browser and its fresh user data directory go with the scope.
 */
import { Effect } from "effect"
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { type BrowserContext, chromium } from "playwright-core"

/** Why the browser cannot start: Chromium is not installed. */
export class ChromiumMissing extends Error {
  override readonly name = "ChromiumMissing"
}

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The Chromium executable: $CHROMIUM, /usr/bin/chromium, or `chromium` / `chromium-browser` on the PATH. */
export const findChromium = (): string => {
  const candidates = [
    process.env["CHROMIUM"],
    "/usr/bin/chromium",
    ...(process.env["PATH"] ?? "").split(delimiter).flatMap((dir) => [
      join(dir, "chromium"),
      join(dir, "chromium-browser")
    ])
  ]
  const found = candidates.find((file) => file !== undefined && file.length > 0 && executable(file))
  if (found === undefined) {
    throw new ChromiumMissing(
      "Chromium is not installed: install the Debian package `chromium` (sudo apt-get install -y chromium), or set CHROMIUM to its executable"
    )
  }
  return found
}

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Launches headless Chromium with a fresh profile; both are removed when `close` is called. */
export const launch = async (
  options: { readonly viewport?: { readonly width: number; readonly height: number } } = {}
): Promise<{ readonly context: BrowserContext; readonly close: () => Promise<void> }> => {
  const executablePath = findChromium()
  const userDataDir = mkdtempSync(join(tmpdir(), "capstan-chromium-"))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: chromiumArgs,
    viewport: options.viewport ?? { width: 1280, height: 900 }
  })
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(userDataDir, { recursive: true, force: true })
    }
  }
}

/** {@link launch} as a scoped resource. */
export const scoped = (options: Parameters<typeof launch>[0] = {}) =>
  Effect.acquireRelease(Effect.promise(() => launch(options)), (browser) => Effect.promise(browser.close))
