/**
 * What the page shows of an answer besides its text, as plain functions (no DOM, unit-tested in
 * test/web-logic.test.ts): citation sources numbered the way `relay chat` numbers its footnotes,
 * server-tool activity lines, result summaries, refusals, and a generic marker for any block or
 * delta type the page does not know. Nothing here throws on a shape it did not expect.
 */

/** @typedef {Record<string, unknown>} Raw */

/**
 * @typedef {object} Source
 * @property {number} n
 * @property {string} label  a title, a URL or a document name
 * @property {string} [url]
 * @property {string} [quote]  the cited text
 */

/** @param {Raw} raw @param {string} field */
function str(raw, field) {
  const value = raw[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Only http(s) links become anchors: a citation's URL is upstream data, never a `javascript:` link. */
export function safeUrl(/** @type {string | undefined} */ url) {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A citation's source and the key that makes two citations the same source (the URL, or the
 * cited document): the rule `relay chat`'s footnotes use.
 * @param {Raw} citation
 * @returns {{ key: string, label: string, url?: string, quote?: string }}
 */
export function describeSource(citation) {
  const quote = str(citation, 'cited_text')?.trim();
  const url = str(citation, 'url');
  if (url !== undefined) {
    const safe = safeUrl(url);
    return {
      key: url,
      label: str(citation, 'title') ?? url,
      ...(safe === undefined ? {} : { url: safe }),
      ...(quote === undefined ? {} : { quote }),
    };
  }
  const title = str(citation, 'document_title') ?? str(citation, 'title') ?? str(citation, 'source');
  const index =
    typeof citation.document_index === 'number' ? `document ${citation.document_index}` : undefined;
  const label = title ?? index ?? String(citation.type ?? 'source');
  return { key: `${label}\u0000${index ?? ''}`, label, ...(quote === undefined ? {} : { quote }) };
}

/** Numbers sources in the order they are first cited. */
export function createSources() {
  /** @type {Map<string, Source>} */
  const byKey = new Map();
  return {
    /**
     * @param {Raw} citation
     * @returns {{ source: Source, isNew: boolean }}
     */
    cite(citation) {
      const { key, ...rest } = describeSource(citation);
      const known = byKey.get(key);
      if (known !== undefined) return { source: known, isNew: false };
      const source = { n: byKey.size + 1, ...rest };
      byKey.set(key, source);
      return { source, isNew: true };
    },
    /** @returns {Source[]} */
    list() {
      return [...byKey.values()];
    },
  };
}

/** The input JSON streamed so far, parsed when it is complete enough. */
function parsed(/** @type {string} */ json) {
  try {
    const value = JSON.parse(json);
    return value !== null && typeof value === 'object' ? /** @type {Raw} */ (value) : {};
  } catch {
    return {};
  }
}

/**
 * What a server-side (or MCP) tool call is doing, from its name and the input JSON so far:
 * "searched the web for “…”", "fetched https://…", "ran code".
 * @param {string} name
 * @param {string} inputJson
 * @param {'server' | 'mcp' | string} [kind]
 */
export function describeToolCall(name, inputJson, kind = 'server') {
  const input = parsed(inputJson);
  switch (name) {
    case 'web_search': {
      const query = str(input, 'query');
      return query === undefined ? 'searching the web…' : `searched the web for “${query}”`;
    }
    case 'web_fetch': {
      const url = str(input, 'url');
      return url === undefined ? 'fetching a page…' : `fetched ${url}`;
    }
    case 'code_execution':
    case 'bash_code_execution':
      return `ran code${str(input, 'code') === undefined && str(input, 'command') === undefined ? '…' : ''}`;
    case 'text_editor_code_execution':
      return `edited ${str(input, 'path') ?? 'a file'}`;
    default:
      return kind === 'mcp' ? `called MCP tool ${name}` : `used ${name}`;
  }
}

/**
 * The code a code-execution call ran (or the command), for showing under its activity line.
 * @param {string} inputJson
 */
export function codeOf(inputJson) {
  const input = parsed(inputJson);
  return str(input, 'code') ?? str(input, 'command');
}

/**
 * @typedef {object} BlockSummary
 * @property {'result' | 'redacted' | 'unknown'} kind
 * @property {string} text  one line
 * @property {string} [output]  longer text to show preformatted (code output)
 * @property {string} [toolUseId]  the call this result belongs to
 */

/**
 * One line about a `block` event the answer does not print as text: a server tool's result, a
 * redacted thinking block, or a type the page does not know (a generic marker, never an error).
 * @param {Raw} block
 * @returns {BlockSummary}
 */
export function describeBlock(block) {
  const type = typeof block.type === 'string' ? block.type : 'unknown';
  const toolUseId = str(block, 'tool_use_id');
  const withId = toolUseId === undefined ? {} : { toolUseId };
  if (type === 'redacted_thinking') return { kind: 'redacted', text: 'redacted thinking' };
  const content = block.content;
  const inner =
    content !== null && typeof content === 'object' && !Array.isArray(content)
      ? /** @type {Raw} */ (content)
      : undefined;
  const errorCode = inner !== undefined && str(inner, 'error_code');
  if (errorCode) return { kind: 'result', text: `failed: ${errorCode}`, ...withId };
  switch (type) {
    case 'web_search_tool_result': {
      const n = Array.isArray(content) ? content.length : 0;
      return { kind: 'result', text: `${n} result${n === 1 ? '' : 's'}`, ...withId };
    }
    case 'web_fetch_tool_result': {
      const url = inner === undefined ? undefined : str(inner, 'url');
      return { kind: 'result', text: url === undefined ? 'page fetched' : `page fetched: ${url}`, ...withId };
    }
    case 'code_execution_tool_result':
    case 'bash_code_execution_tool_result': {
      if (inner === undefined) return { kind: 'result', text: 'done', ...withId };
      const code = typeof inner.return_code === 'number' ? inner.return_code : undefined;
      const stdout = str(inner, 'stdout') ?? '';
      const stderr = str(inner, 'stderr') ?? '';
      const output = `${stdout}${stderr === '' ? '' : `${stdout === '' ? '' : '\n'}${stderr}`}`.replace(
        /\n$/,
        '',
      );
      return {
        kind: 'result',
        text: code === undefined ? 'finished' : `exit code ${code}`,
        ...(output === '' ? {} : { output }),
        ...withId,
      };
    }
    default:
      if (type.endsWith('_tool_result')) return { kind: 'result', text: 'done', ...withId };
      return { kind: 'unknown', text: `[${type}]` };
  }
}

/**
 * A refusal notice for a `done` event, or undefined when the model did not refuse.
 * @param {Raw} done
 */
export function describeRefusal(done) {
  if (done.stop_reason !== 'refusal') return undefined;
  const details = done.stop_details;
  const category =
    details !== null && typeof details === 'object'
      ? str(/** @type {Raw} */ (details), 'category')
      : undefined;
  return `Claude declined to answer${category === undefined ? '' : ` (category: ${category})`}`;
}

/**
 * The marker for a delta type the page does not know.
 * @param {Raw} delta
 */
export function describeDelta(delta) {
  return `[${typeof delta.type === 'string' ? delta.type : 'delta'}]`;
}
