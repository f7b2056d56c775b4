/**
 * A throwaway PostgreSQL server for tests: `initdb` in a temporary directory, `pg_ctl start` on a free loopback port
 * (trust authentication, no fsync), stopped and deleted when the scope closes. Run as the `postgres` user when the
 * tests run as root (PostgreSQL refuses root). The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`) or
 * those on `PATH`.
 *
 * ```ts
 * const server = yield* Postgres.scoped
 * PgClient.layer({ host: server.host, port: server.port, username: server.username, database: server.database })
 * ```
 */
import { Effect, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { delimiter, join } from "node:path"

/** Where a test's server listens. */
export interface PostgresServer {
  readonly host: string
  readonly port: number
  readonly username: string
  readonly database: string
}

/** The directory holding `initdb` and `pg_ctl`: Debian's newest version, else the first on `PATH`. */
const binaries = (): string => {
  const debian = "/usr/lib/postgresql"
  const versions = existsSync(debian)
    ? readdirSync(debian).filter((v) => existsSync(join(debian, v, "bin", "initdb"))).sort((a, b) =>
      Number(b) - Number(a)
    )
    : []
  if (versions.length > 0) return join(debian, versions[0]!, "bin")
  const onPath = (process.env.PATH ?? "").split(delimiter).find((dir) =>
    existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))
  )
  if (onPath !== undefined) return onPath
  throw new Error(
    "PostgreSQL's initdb and pg_ctl were not found in /usr/lib/postgresql/*/bin or on PATH: install the " +
      "postgresql package (apt-get install postgresql) to run the PostgreSQL tests"
  )
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no free port on 127.0.0.1"))
      )
    })
  })

/** Starts a server; it is stopped (immediately) and its directory removed when the scope closes. */
export const scoped: Effect.Effect<PostgresServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const bin = binaries()
    const dir = mkdtempSync(join(tmpdir(), "capstan-pg-"))
    const asRoot = userInfo().uid === 0
    // PostgreSQL refuses to run as root: then it runs as the `postgres` user, who must own its directory.
    if (asRoot) {
      const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim())
      chownSync(dir, id("-u"), id("-g"))
    }
    const run = (command: string, args: ReadonlyArray<string>) =>
      asRoot
        ? execFileSync("runuser", ["-u", "postgres", "--", join(bin, command), ...args], { stdio: "pipe" })
        : execFileSync(join(bin, command), args, { stdio: "pipe" })
    const data = join(dir, "data")
    const port = await freePort()
    try {
      run("initdb", ["-D", data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
      run("pg_ctl", [
        "-D",
        data,
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
        "-l",
        join(dir, "server.log"),
        "-w",
        "start"
      ])
    } catch (error) {
      const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8") : ""
      const stderr = (error as { readonly stderr?: Buffer }).stderr?.toString() ?? ""
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${stderr}\n${log}`)
    }
    return { server: { host: "127.0.0.1", port, username: "postgres", database: "postgres" }, dir, data, run }
  }),
  ({ data, dir, run }) =>
    Effect.sync(() => {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
).pipe(Effect.map(({ server }) => server))
