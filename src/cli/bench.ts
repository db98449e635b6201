/** `relay bench`: not built yet (its issue is open). */
export async function runBench(_argv: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  process.stderr.write('relay bench: not available yet\n');
  return 2;
}
