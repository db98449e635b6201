/**
 * An incremental Server-Sent Events parser for `fetch` bodies: feed it decoded text as it
 * arrives, get complete frames back. Follows the spec's field rules (CR, LF or CRLF line ends,
 * one optional space after the colon, comments ignored, several data lines joined with "\n").
 */

/**
 * @typedef {{ id: string | undefined, event: string, data: string }} SseFrame
 */

export function createSseParser() {
  let buffer = '';
  /** @type {string[]} */
  let data = [];
  let event = '';
  /** @type {string | undefined} */
  let id;

  /** @param {string} line @param {SseFrame[]} out */
  function line(text, out) {
    if (text === '') {
      if (data.length > 0) out.push({ id, event: event || 'message', data: data.join('\n') });
      data = [];
      event = '';
      id = undefined;
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
  }

  return {
    /**
     * @param {string} chunk decoded text
     * @returns {SseFrame[]} the frames completed by this chunk
     */
    push(chunk) {
      buffer += chunk;
      /** @type {SseFrame[]} */
      const out = [];
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer);
        // A lone trailing CR may be the first half of CRLF: wait for the next chunk.
        if (match === null || (match[0] === '\r' && match.index === buffer.length - 1)) break;
        line(buffer.slice(0, match.index), out);
        buffer = buffer.slice(match.index + match[0].length);
      }
      return out;
    },
  };
}
