/**
 * `relay chat`: a terminal client of the relay. With a prompt it streams one answer and exits;
 * without one it is a multi-turn REPL on a server-kept conversation. Ctrl-C during an answer sends
 * a real cancel and prints the receipt; Ctrl-C again (or at the prompt), or Ctrl-D, quits.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { dimmer, Footnotes, statsLine } from './chat/render.js';
import { SseChatClient } from './chat/sse-client.js';
import { ChatError, type ChatRequest, type ChatTransport } from './chat/transport.js';
import { WsChatClient } from './chat/ws-client.js';

const DEFAULT_URL = 'http://127.0.0.1:8080';

export const CHAT_HELP = `relay chat — stream Claude's answers from a running relay in the terminal

Usage: relay chat [flags] ["prompt"]

With a prompt: streams one answer, prints a stats line, exits (0 done, 1 failed, 130 cancelled).
Without one: a multi-turn conversation (the relay keeps the history under a random
conversation_id); one message per line.

Flags:
  --transport sse|ws  how to talk to the relay: SSE over fetch, or one WebSocket (default sse)
  --url URL           the relay's base URL (env RELAY_URL, default ${DEFAULT_URL})
  --model NAME        model to ask for (default: the relay's RELAY_DEFAULT_MODEL)
  --system TEXT       system prompt
  --key KEY           relay key, when the relay requires one (env RELAY_KEY)
  --thinking          show the model's extended thinking, dimmed, before the answer (and a
                      marker for redacted thinking); asks for thinking with a 1024-token budget
  -h, --help          this text

Keys: Ctrl-C during an answer cancels it on the relay and prints the usage receipt; Ctrl-C again,
Ctrl-C at the prompt, or Ctrl-D quits.

After each answer one line shows time to first token, tokens per second and usage (input/output
tokens; "estimated" when the upstream's final count never arrived). It is dimmed on a terminal.
Citations (web search, documents) appear as [n] in the answer and as footnotes after it; server
tools show what they did ("searched the web for …", the number of results); a refusal says so.

Environment variables:
  RELAY_URL   the relay's base URL when --url is not given
  RELAY_KEY   the relay key when --key is not given (safer than a flag: not in the process list)
  NO_COLOR    when set, never print ANSI styling
`;

type Outcome = 'done' | 'cancelled' | 'failed' | 'quit';

const EXIT_CODES: Readonly<Record<Outcome, number>> = { done: 0, failed: 1, cancelled: 130, quit: 130 };

export async function runChat(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      transport: { type: 'string' },
      url: { type: 'string' },
      model: { type: 'string' },
      system: { type: 'string' },
      key: { type: 'string' },
      thinking: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(CHAT_HELP);
    return 0;
  }
  const transportName = values.transport ?? 'sse';
  if (transportName !== 'sse' && transportName !== 'ws') {
    throw usageError(`--transport must be sse or ws, not "${transportName}"`);
  }
  const url = baseUrl(values.url ?? (env.RELAY_URL || DEFAULT_URL));
  const key = values.key ?? (env.RELAY_KEY || undefined);
  const transport: ChatTransport =
    transportName === 'ws' ? new WsChatClient(url, key) : new SseChatClient(url, key);
  const session = new ChatSession({
    transport,
    env,
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(values.system === undefined ? {} : { system: values.system }),
    thinking: values.thinking === true,
  });
  const prompt = positionals.join(' ').trim();
  try {
    if (prompt !== '') return EXIT_CODES[await session.answer({ message: prompt })];
    return await session.repl(`${transportName} at ${url}`);
  } finally {
    session.dispose();
    await transport.close();
  }
}

interface SessionOptions {
  readonly transport: ChatTransport;
  readonly env: NodeJS.ProcessEnv;
  readonly model?: string;
  readonly system?: string;
  /** Ask for extended thinking and print it dimmed. */
  readonly thinking: boolean;
}

/** The chat loop over any transport, and the one place Ctrl-C is decided. */
class ChatSession {
  private readonly transport: ChatTransport;
  private readonly model: string | undefined;
  private readonly system: string | undefined;
  private readonly dim: (text: string) => string;
  private readonly thinking: boolean;
  private inFlight: { readonly controller: AbortController; cancelling: boolean } | undefined;
  private quitting = false;
  /** Set by the REPL: ends its line loop. */
  private stopReading: (() => void) | undefined;

  constructor(options: SessionOptions) {
    this.transport = options.transport;
    this.model = options.model;
    this.system = options.system;
    this.dim = dimmer(process.stdout.isTTY === true, options.env);
    this.thinking = options.thinking;
    // Ours, not the default exit: with stdin piped (no readline raw mode) Ctrl-C arrives as a signal.
    process.on('SIGINT', this.onInterrupt);
  }

  dispose(): void {
    process.off('SIGINT', this.onInterrupt);
  }

  /** Streams one answer to stdout, then its stats line; failures go to stderr. */
  async answer(turn: { message: string; conversation_id?: string }): Promise<Outcome> {
    const request: ChatRequest = {
      ...turn,
      ...(this.model === undefined ? {} : { model: this.model }),
      ...(this.system === undefined ? {} : { system: this.system }),
      ...(this.thinking ? { thinking: { type: 'enabled', budget_tokens: 1024 }, max_tokens: 4096 } : {}),
    };
    const controller = new AbortController();
    this.inFlight = { controller, cancelling: false };
    const sentAt = performance.now();
    let firstTokenAt: number | undefined;
    let lineOpen = false;
    const out = (text: string): void => {
      if (text === '') return;
      process.stdout.write(text);
      lineOpen = !text.endsWith('\n');
    };
    /** A note on a line of its own, dimmed. */
    const note = (text: string): void => out(this.dim(`${lineOpen ? '\n' : ''}${text}\n`));
    const footnotes = new Footnotes();
    /** The block index whose thinking is being printed, so the answer starts on a new line. */
    let thinkingAt: number | undefined;
    const endThinking = (): void => {
      if (thinkingAt === undefined) return;
      thinkingAt = undefined;
      out('\n\n');
    };
    const searches = new Map<number, string>();
    try {
      const terminal = await this.transport.ask(
        request,
        (event) => {
          switch (event.type) {
            case 'text':
              firstTokenAt ??= performance.now();
              endThinking();
              out(event.text);
              break;
            case 'thinking':
              firstTokenAt ??= performance.now();
              if (!this.thinking) break;
              if (thinkingAt !== event.index) {
                endThinking();
                out(this.dim('thinking: '));
                thinkingAt = event.index;
              }
              out(this.dim(event.text));
              break;
            case 'tool_input':
              firstTokenAt ??= performance.now();
              if (searches.has(event.index))
                searches.set(event.index, searches.get(event.index) + event.partial_json);
              break;
            case 'tool_use':
              firstTokenAt ??= performance.now();
              endThinking();
              if (event.kind === 'client') note(`[tool call: ${event.name}]`);
              else searches.set(event.index, '');
              break;
            case 'citation':
              out(this.dim(footnotes.cite(event.citation)));
              break;
            case 'block':
              firstTokenAt ??= performance.now();
              endThinking();
              {
                const line = describeBlock(event.block, searches, this.thinking);
                if (line !== '') note(line);
              }
              break;
            case 'retry':
              process.stderr.write(
                this.dim(`(the relay is retrying upstream: ${event.reason}; attempt ${event.attempt})\n`),
              );
              break;
            default:
              break;
          }
        },
        controller.signal,
      );
      if (lineOpen) out('\n');
      const notes = footnotes.render();
      if (notes !== '') out(this.dim(notes));
      if (terminal.type === 'done' && terminal.stop_reason === 'refusal') {
        const category = terminal.stop_details?.category;
        note(`(Claude declined to answer${typeof category === 'string' ? `: ${category}` : ''})`);
      }
      out(`${this.dim(statsLine(terminal, { sentAt, firstTokenAt, endedAt: performance.now() }))}\n`);
      if (terminal.type === 'error') process.stderr.write(`error ${terminal.code}: ${terminal.message}\n`);
      return terminal.type === 'error' ? 'failed' : terminal.type;
    } catch (err) {
      if (lineOpen) out('\n');
      if (this.quitting || (err instanceof ChatError && err.code === 'quit')) return 'quit';
      if (!(err instanceof ChatError)) throw err;
      process.stderr.write(
        err.code === 'unreachable' ? `${err.message}\n` : `error ${err.code}: ${err.message}\n`,
      );
      return 'failed';
    } finally {
      this.inFlight = undefined;
    }
  }

  /** One message per line on a fresh conversation, until EOF (Ctrl-D) or a quitting Ctrl-C. */
  async repl(where: string): Promise<number> {
    const conversationId = `chat_${randomBytes(16).toString('base64url')}`;
    const tty = process.stdin.isTTY === true;
    const rl = createInterface({
      input: process.stdin,
      ...(tty ? { output: process.stdout, terminal: true } : { terminal: false }),
    });
    // In raw mode readline turns Ctrl-C into this event instead of a signal.
    rl.on('SIGINT', this.onInterrupt);
    this.stopReading = () => rl.close();
    if (tty) {
      process.stdout.write(this.dim(`relay chat · ${where} · Ctrl-C cancels an answer, Ctrl-D quits\n`));
      rl.setPrompt('› ');
      rl.prompt();
    }
    try {
      for await (const line of rl) {
        const message = line.trim();
        if (message !== '') {
          // --system goes with every message: the conversation keeps it only from a kept exchange.
          const outcome = await this.answer({ message, conversation_id: conversationId });
          if (outcome === 'quit' || this.quitting) break;
        }
        if (tty) rl.prompt();
      }
    } finally {
      this.stopReading = undefined;
      rl.close();
    }
    if (tty) process.stdout.write('\n');
    return 0;
  }

  private readonly onInterrupt = (): void => {
    const answer = this.inFlight;
    if (answer !== undefined && !answer.cancelling) {
      answer.cancelling = true;
      process.stderr.write(this.dim('\n^C cancelling on the relay… (Ctrl-C again quits)\n'));
      this.transport.cancel().catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`could not cancel: ${message}\n`);
      });
      return;
    }
    this.quitting = true;
    answer?.controller.abort();
    this.stopReading?.();
  };
}

/** The relay's base URL without a trailing slash; a usage error unless it is http(s). */
function baseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url must be a URL such as ${DEFAULT_URL}, not "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`--url must start with http:// or https://, not "${raw}"`);
  }
  return url.href.replace(/\/+$/, '');
}

/** Coded like node's own parseArgs errors, so the CLI prints it as a usage error (exit 2). */
function usageError(message: string): Error {
  return Object.assign(new TypeError(message), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
}

/**
 * One line about a block the answer does not print as text: what a server tool did (with the
 * search query its call streamed), or that thinking was redacted.
 */
function describeBlock(
  block: Readonly<Record<string, unknown>>,
  searches: ReadonlyMap<number, string>,
  showThinking: boolean,
): string {
  if (block.type === 'redacted_thinking') return showThinking ? '[redacted thinking]' : '';
  if (typeof block.type === 'string' && block.type.endsWith('_tool_result')) {
    const tool = block.type.replace(/_tool_result$/, '').replaceAll('_', ' ');
    const run = codeRun(block.content);
    // Code execution: its exit code, then what it printed (as the page shows it).
    if (run !== undefined)
      return `[${tool}: exit code ${run.code}]${run.output === '' ? '' : `\n${run.output}`}`;
    const results = Array.isArray(block.content) ? `${block.content.length} results` : 'done';
    const query = [...searches.values()].map(queryOf).find((q) => q !== undefined);
    return `[${tool}${query === undefined ? '' : ` for “${query}”`}: ${results}]`;
  }
  return `[${String(block.type)}]`;
}

/** A code-execution result's exit code and output (stdout, then stderr), if it is one. */
function codeRun(content: unknown): { code: number; output: string } | undefined {
  if (content === null || typeof content !== 'object' || Array.isArray(content)) return undefined;
  const result = content as { return_code?: unknown; stdout?: unknown; stderr?: unknown };
  if (typeof result.return_code !== 'number') return undefined;
  const streams = [result.stdout, result.stderr].filter(
    (s): s is string => typeof s === 'string' && s !== '',
  );
  return { code: result.return_code, output: streams.join('\n').replace(/\n$/, '') };
}

function queryOf(json: string): string | undefined {
  try {
    const input = JSON.parse(json) as { query?: unknown };
    return typeof input.query === 'string' ? input.query : undefined;
  } catch {
    return undefined;
  }
}
