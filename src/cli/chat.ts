/** `relay chat`: not built yet (its issue is open). */
export async function runChat(_argv: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  process.stderr.write('relay chat: not available yet\n');
  return 2;
}
