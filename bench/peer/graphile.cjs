// bench/peer/graphile.cjs - the peer baseline of `make bench` (BENCH_PEER=1): how fast
// graphile-worker, a queue on PostgreSQL that runs its workers in-process, gets through
// the same number of no-op jobs on the same private PostgreSQL. Run by bench/peer/run-peer.sh
// (which installs graphile-worker from npm into a cache directory; never a build or test
// dependency):
//
//   node bench/peer/graphile.cjs --modules DIR --url URL --schema S --jobs N
//        --concurrency C --mode default|batched [--timeout-s T]
//
//   default  graphile-worker's defaults: each job fetched and completed on its own
//   batched  its documented batching: a local queue of 500 locked jobs per process,
//            completions committed in batches (completeJobBatchDelay 0)
//
// The jobs are inserted first (one SQL statement), then the clock runs from starting the
// worker until the jobs table is empty: graphile-worker deletes a job once it completed,
// so an empty table means every job ran and its completion was committed. Prints one JSON
// object; exit status 1 when the jobs are not done within the timeout.
"use strict";

const path = require("path");

function parseArgs(argv) {
  const out = { timeoutS: 300 };
  const names = {
    "--modules": "modules", "--url": "url", "--schema": "schema", "--jobs": "jobs",
    "--concurrency": "concurrency", "--mode": "mode", "--timeout-s": "timeoutS",
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`unknown or incomplete option: ${argv[i]}`);
    out[key] = argv[i + 1];
  }
  for (const k of ["modules", "url", "schema", "jobs", "concurrency", "mode"]) {
    if (out[k] === undefined) throw new Error(`missing --${k}`);
  }
  for (const k of ["jobs", "concurrency", "timeoutS"]) {
    out[k] = Number(out[k]);
    if (!Number.isInteger(out[k]) || out[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(out.schema)) throw new Error("--schema must be a plain identifier");
  if (out.mode !== "default" && out.mode !== "batched") throw new Error("--mode must be default or batched");
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const args = parseArgs(process.argv);
  const gw = require(path.join(args.modules, "node_modules", "graphile-worker"));
  const { Pool } = require(path.join(args.modules, "node_modules", "pg"));
  const quiet = new gw.Logger(() => (level, message) => {
    if (level === "error") process.stderr.write(`graphile-worker: ${message}\n`);
  });
  const common = { connectionString: args.url, schema: args.schema, logger: quiet };

  await gw.runMigrations(common);
  const pool = new Pool({ connectionString: args.url, max: 1 });
  try {
    await pool.query(
      `SELECT ${args.schema}.add_job('noop', json_build_object('i', g)) FROM generate_series(1, $1) AS g`,
      [args.jobs]);
    await pool.query(`VACUUM ANALYZE ${args.schema}._private_jobs`);
    await pool.query("CHECKPOINT");

    let handled = 0;
    const preset = args.mode === "batched"
      ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0 } }
      : undefined;
    const t0 = process.hrtime.bigint();
    const runner = await gw.run({
      ...common,
      concurrency: args.concurrency,
      noHandleSignals: true,
      pollInterval: 1000,
      preset,
      taskList: { noop: async () => { handled++; } },
    });
    let left = args.jobs;
    const deadline = t0 + BigInt(args.timeoutS) * 1000000000n;
    while (left > 0 && process.hrtime.bigint() < deadline) {
      await sleep(10);
      const r = await pool.query(`SELECT count(*)::int AS n FROM ${args.schema}._private_jobs`);
      left = r.rows[0].n;
    }
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    await runner.stop();
    const ok = left === 0;
    process.stdout.write(JSON.stringify({
      peer: "graphile-worker", version: require(path.join(args.modules, "node_modules", "graphile-worker",
        "package.json")).version,
      mode: args.mode, jobs: args.jobs, concurrency: args.concurrency, handled, left, ok,
      wall_s: Math.round(wallS * 1000) / 1000,
      jobs_per_s: ok ? Math.round(args.jobs / wallS) : null,
    }) + "\n");
    process.exitCode = ok ? 0 : 1;
  } finally {
    await pool.end();
  }
}

main().catch((e) => {
  process.stderr.write(`graphile.cjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(2);
});
