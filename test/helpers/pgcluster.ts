import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL cluster of one test: its own data directory, port and socket
 * directory, so that a test may stop and start it without touching the shared server on
 * 5432 that the other tests use. Trust authentication, superuser `postgres`, database
 * `postgres`, listening on 127.0.0.1 only.
 */
export interface PgCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: 'postgres';
  readonly database: 'postgres';
  /** The temporary directory: data/, the server log (postgres.log) and the socket. */
  readonly dir: string;
  /** Starts the cluster and waits until it accepts connections (`pg_ctl start -w`). */
  start(): Promise<void>;
  /** Stops it: `pg_ctl stop -m fast` (clients are disconnected, a clean shutdown checkpoint). */
  stop(): Promise<void>;
  /**
   * Freezes the postmaster and its backends (SIGSTOP): a database that keeps its connections
   * open but answers nothing, as a hung host or a network that drops packets looks to clients.
   */
  pause(): void;
  /** Lets a paused cluster run on (SIGCONT). */
  resume(): void;
  /** Stops it if it runs and removes its directory; safe to call twice, or after a failed create. */
  destroy(): Promise<void>;
  /** The cluster's own log, for a failing test's message. */
  log(): string;
}

/** Where this machine's PostgreSQL binaries are (the newest version), or undefined. */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

/**
 * True when a cluster can be made here: the binaries, `runuser` and an OS user `postgres`
 * (initdb refuses to run as root, so the cluster runs as that user).
 */
export function pgClusterAvailable(): boolean {
  if (pgBinDir() === undefined) return false;
  if (!['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser', '/bin/runuser'].some((p) => existsSync(p))) return false;
  try {
    return /^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'));
  } catch {
    return false;
  }
}

/** Creates (initdb) and starts a new cluster on a free port. */
export async function createPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'dpc-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const { uid, gid } = postgresIds();
  chownSync(dir, uid, gid);

  const asPostgres = async (tool: string, args: string[]) => {
    try {
      await run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { timeout: 60_000 });
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
    }
  };
  let running = false;
  let paused: number[] = [];
  let port = 0;
  const cluster: PgCluster = {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    user: 'postgres',
    database: 'postgres',
    dir,
    async start() {
      await asPostgres('pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', logFile]);
      running = true;
    },
    async stop() {
      await asPostgres('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', data]);
      running = false;
    },
    pause() {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // The postmaster first, so that it forks no new backend meanwhile.
      paused = [postmaster, ...childrenOf(postmaster)];
      for (const pid of paused) process.kill(pid, 'SIGSTOP');
    },
    resume() {
      for (const pid of paused) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone meanwhile
        }
      }
      paused = [];
    },
    async destroy() {
      if (paused.length) cluster.resume();
      if (running || existsSync(join(data, 'postmaster.pid'))) {
        await asPostgres('pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', data]).catch(() => undefined);
        running = false;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    log() {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };

  try {
    // --no-sync and fsync=off: a throwaway cluster; `pg_ctl stop -m fast` still ends with a
    // shutdown checkpoint, so what was committed survives a stop and start.
    await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    // A port that is free now; another process may take it before postgres binds it, so a
    // failed start tries another one.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      appendFileSync(
        join(data, 'postgresql.conf'),
        [
          '',
          '# set by test/helpers/pgcluster.ts (later settings win)',
          "listen_addresses = '127.0.0.1'",
          `port = ${port}`,
          `unix_socket_directories = '${dir}'`,
          'fsync = off',
          'full_page_writes = off',
          'max_connections = 50',
          '',
        ].join('\n'),
      );
      try {
        await cluster.start();
        return cluster;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
}

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no OS user postgres');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** The processes whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return children;
}

/** A TCP port on 127.0.0.1 that nothing listens on, above the usual 5432. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 55432 + Math.floor(Math.random() * 5000);
    const free = await new Promise<boolean>((done) => {
      const probe = createServer();
      probe.once('error', () => done(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
    });
    if (free) return port;
  }
}
