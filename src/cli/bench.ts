/**
 * `relay bench`: SSE versus WebSocket versus the floor, measured in one run (bench/README.md).
 * The harness lives in bench/; this is its command-line face.
 */
import { BENCH_HELP, parseBenchArgs } from '../../bench/options.js';
import { renderFromJson, runBenchmark } from '../../bench/run.js';

export async function runBench(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const at = argv.indexOf('--render');
  if (at >= 0 && argv[at + 1] !== undefined) {
    renderFromJson(argv[at + 1]!);
    process.stderr.write(`relay bench: summary and chart rewritten beside ${argv[at + 1]}\n`);
    return 0;
  }
  const opts = parseBenchArgs(argv, env);
  if (opts === 'help') {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  process.stderr.write(
    `relay bench: ${opts.mode} mode, ${opts.reps} repetition(s), scenarios ${opts.scenarios.join(', ')}\n`,
  );
  const { result, jsonPath, markdown } = await runBenchmark(opts);
  process.stdout.write(`${markdown}\n`);
  process.stderr.write(
    `relay bench: ${result.checks.ok ? 'passed' : 'FAILED'} in ${(result.durationMs / 1000).toFixed(1)} s; raw results ${jsonPath}\n`,
  );
  return result.checks.ok ? 0 : 1;
}
