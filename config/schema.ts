import { z } from 'zod';

/**
 * The shape of DPC's configuration. Every object is strict, so a misspelt key stops
 * start-up instead of being silently ignored; `config/default.json` gives every value.
 */
const port = z.number().int().min(1).max(65535);
/** 0 lets the system choose a free port (tests); the one bound is logged. */
const listenPort = z.number().int().min(0).max(65535);
const ms = z.number().int().min(0);
const secret = z.string();
/** A fair-share weight: a request of weight 2 gets twice the places of one of weight 1. */
const weight = z.number().min(0.001).max(1000);

export const configSchema = z
  .object({
    http: z
      .object({
        host: z.string().min(1),
        port: listenPort,
        /**
         * Express's 'trust proxy': false (none), true (any), a number of hops, or addresses and
         * subnets ("loopback", "10.0.0.0/8"). Only a trusted proxy's X-Forwarded-For and
         * X-Forwarded-Proto count: the client's address in the audit, and HTTPS for the cookie's Secure flag.
         */
        trustProxy: z
          .union([z.boolean(), z.number().int().min(0).max(100), z.string().min(1)])
          // From the environment a hop count is text: "2" means two hops, not the address 2.
          .transform((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v)),
        /** The path the console is served under behind a reverse proxy ("/dpc"), or "" for the root. */
        basePath: z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'a path like /dpc, without a trailing slash, or empty'),
      })
      .strict(),
    db: z
      .object({
        client: z.enum(['sqlite', 'postgresql', 'oracle']),
        connectTimeoutMs: ms,
        poolMax: z.number().int().min(1).max(1000),
        migrationWaitMs: ms,
        sqlite: z.object({ path: z.string().min(1), busyTimeoutMs: ms }).strict(),
        postgresql: z
          .object({
            host: z.string().min(1),
            port,
            database: z.string().min(1),
            user: z.string().min(1),
            password: secret,
            passwordFile: z.string(),
            schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier'),
            ssl: z.boolean(),
          })
          .strict(),
        oracle: z
          .object({
            connectString: z.string(),
            user: z.string(),
            password: secret,
            passwordFile: z.string(),
          })
          .strict(),
      })
      .strict(),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']),
        dir: z.string().min(1),
        maxFileMb: z.number().min(1),
        maxFiles: z.number().int().min(1),
        console: z.boolean(),
      })
      .strict(),
    shutdown: z.object({ graceMs: ms }).strict(),
    ems: z
      .object({
        outbox: z
          .object({
            pollMs: z.number().int().min(10),
            batchSize: z.number().int().min(1).max(1000),
            claimMs: z.number().int().min(100),
            backoffBaseMs: ms,
            backoffMaxMs: ms,
            maxAttempts: z.number().int().min(1),
          })
          .strict(),
      })
      .strict(),
    smas: z
      .object({
        healthIntervalMs: z.number().int().min(100),
        /** How long a once-only duty (cron, outbox delivery, the reaper) stays with a process that stopped renewing it. */
        leaseMs: z.number().int().min(500),
        /** How far apart the clocks of the processes sharing the database may be (NTP): leases are times in the database. */
        clockSkewMs: z.number().int().min(0),
        /** The Monitor's time series (docs/monitoring.md). */
        monitor: z
          .object({
            enabled: z.boolean(),
            /** How often each series is sampled. */
            intervalMs: z.number().int().min(1000),
            /** Raw samples are kept this long… */
            rawDays: z.number().int().min(1),
            /** …and their hourly roll-ups (min, max, mean) this long. */
            retentionDays: z.number().int().min(1),
            /** A disk (the DSS root, the job log store) with less free than this raises an alert; 0: no such threshold. */
            diskMinFreeMb: z.number().min(0),
            /** …or with less than this share of it free; 0: no such threshold. */
            diskMinFreePercent: z.number().min(0).max(100),
          })
          .strict(),
        /** Prometheus `/metrics`: served only with a bearer token set here (or read from tokenFile). */
        metrics: z.object({ token: secret, tokenFile: z.string() }).strict(),
        /** A session ends after this long without a request (idleMs) and this long after sign-in (absoluteMs), whatever happens. */
        session: z.object({ idleMs: z.number().int().min(1000), absoluteMs: z.number().int().min(1000) }).strict(),
        signin: z
          .object({
            /** This many wrong passwords in a row lock the account for lockMs. */
            maxFailures: z.number().int().min(1).max(1000),
            lockMs: z.number().int().min(1000),
            /** Sign-in attempts allowed per client address, and per user name, within windowMs. */
            perAddress: z.number().int().min(1),
            perAccount: z.number().int().min(1),
            windowMs: z.number().int().min(1000),
          })
          .strict(),
        /** Where the first start writes the password of the admin it creates (mode 0600); "": `first-admin-password` in the folder that holds log.dir (var/). */
        firstAdminFile: z.string(),
      })
      .strict(),
    rms: z
      .object({
        /** Registers and starts the demo workflow, so a new installation shows work flowing. */
        demo: z.boolean(),
        /** Modules that export `workflows` and `taskTypes`, relative to the project root, or absolute. */
        descriptors: z.array(z.string().min(1)),
        /** A claimed job whose holder stops renewing its lease for this long is handed back to the queue. */
        jobLeaseMs: z.number().int().min(500),
        /** How often the reaper looks for lapsed job leases and retries that are due. */
        reaperMs: z.number().int().min(50),
        /** A job handed back this many times because the process running it died fails instead: it may be what kills them. */
        maxHandbacks: z.number().int().min(1).max(1000),
        cron: z.object({ catchUp: z.boolean(), lookbackDays: z.number().int().min(0).max(366) }).strict(),
        /** How a pool's places are shared between the requests that have READY jobs (docs/queue.md, "Fair share"). */
        share: z
          .object({
            /** Weight of a request by its trigger: a backfill of many days is one request. */
            weights: z.object({ CRON: weight, DATA: weight, MANUAL: weight, BACKFILL: weight, REPROCESS: weight }).strict(),
            /** Weight by workflow descriptor name, before its trigger's. */
            workflows: z.record(z.string().min(1), weight),
            /**
             * Jobs per unit of weight a request that had no READY jobs (or is new) may be behind the front when it comes back.
             * At least 1: below a job's lag, the shares would tie at every claim and the oldest would take them all.
             */
            credit: z.number().min(1).max(1_000_000),
          })
          .strict(),
        retention: z
          .object({ enabled: z.boolean(), days: z.number().int().min(1), batchSize: z.number().int().min(1).max(10000), intervalMs: z.number().int().min(1000) })
          .strict(),
      })
      .strict(),
    pfs: z
      .object({
        claimBatch: z.number().int().min(1).max(5000),
        /**
         * A process that has not renewed its job leases for this share of rms.jobLeaseMs stops
         * its running jobs at once, before the leases can lapse and the jobs run elsewhere.
         */
        leaseLossShare: z.number().gt(0).lt(1),
        /** Job state changes are written together at most this long after they happen. */
        flushMs: z.number().int().min(0).max(1000),
        pollMs: z.number().int().min(10),
        local: z
          .object({
            /** Worker threads for TypeScript tasks; 0: cores − 1, at least 1. */
            threads: z.number().int().min(0).max(256),
            /** Batches of jobs queued ahead in each worker thread, so a thread never waits for the next. */
            batchesPerThread: z.number().int().min(1).max(256),
            /** Short jobs go to a thread together, about this many ms of work in one message. */
            batchMs: z.number().int().min(1).max(10000),
            /** Cores external programs may use together; 0: all of this machine's. */
            cpus: z.number().int().min(0),
            /** Memory the jobs declared may use together, MiB; 0: 80 % of this machine's. */
            memoryMb: z.number().int().min(0),
            /** A job's log is kept in parts of this size (the DPCT's rotated files)… */
            logMaxKb: z.number().int().min(1),
            /** …this many besides the first (MAXBACKUPNUMBER); past them the log is cut with a marker line. */
            logBackups: z.number().int().min(0).max(100),
          })
          .strict(),
        /** The job log store: append-only segment files, each job's extents in pfs_log_extent. */
        jobLog: z
          .object({
            /** Where segments live; "": `<log.dir>/segments`. Several processes share one directory, so any console reads any job's log. */
            dir: z.string(),
            /** A segment is closed and a new one begun past this size… */
            segmentMb: z.number().min(0.001).max(4096),
            /** …or this age, so that none grows for ever and retention can delete whole old ones. */
            segmentAgeMs: z.number().int().min(1000),
            /** A running job's lines are written to its segment and recorded at most this long after it logged them. */
            flushMs: z.number().int().min(1).max(60000),
            /** `batch`: each writer fdatasyncs its segment before the outcomes of the jobs it wrote go to the database (lines survive a host crash); `none`: write(2) only (lines survive a kill -9 of DPC, not of the host). */
            fsync: z.enum(['batch', 'none']),
          })
          .strict(),
      })
      .strict(),
    dss: z.object({ root: z.string().min(1), minFreeMb: z.number().min(0) }).strict(),
    dts: z
      .object({
        upstream: z.object({ kind: z.enum(['none', 'local']), path: z.string() }).strict(),
      })
      .strict(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.smas.monitor.retentionDays < c.smas.monitor.rawDays) {
      ctx.addIssue({ code: 'custom', path: ['smas', 'monitor', 'retentionDays'], message: `must be at least smas.monitor.rawDays (${c.smas.monitor.rawDays}): the roll-ups are made from the raw samples` });
    }
    const margin = Math.ceil(c.rms.jobLeaseMs * c.pfs.leaseLossShare) + STOP_AT_ONCE_MS + c.smas.clockSkewMs;
    if (margin > c.rms.jobLeaseMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['rms', 'jobLeaseMs'],
        message:
          `must hold pfs.leaseLossShare of it (${c.pfs.leaseLossShare}), the ${STOP_AT_ONCE_MS} ms a process takes to stop its jobs ` +
          `and smas.clockSkewMs (${c.smas.clockSkewMs}): at least ${Math.ceil((STOP_AT_ONCE_MS + c.smas.clockSkewMs) / (1 - c.pfs.leaseLossShare))} ms`,
      });
    }
  });

/**
 * The most a process takes to stop its running jobs once it finds its job leases not renewed
 * in time: its watchdog looks every 50 ms, a task has 100 ms to see its signal aborted, then
 * its thread is terminated (a program's process group is sent SIGKILL at once). A lapsed
 * lease is taken by another process only after this, and after the allowed clock skew.
 */
export const STOP_AT_ONCE_MS = 500;

export type Config = z.infer<typeof configSchema>;
export type DbClient = Config['db']['client'];
