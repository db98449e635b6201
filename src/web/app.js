/**
 * The page's controller: reads the form, builds the stream request, runs one turn at a time on
 * the chosen transport (or a race), and wires Stop, Drop connection and New chat to it.
 */
import { ensureKey } from './auth.js';
import { startRace } from './race.js';
import { createStreamView } from './stream-view.js';
import * as eventsource from './transport-eventsource.js';
import * as sse from './transport-sse.js';
import * as ws from './transport-ws.js';
import { showUpstreamInfo } from './upstream-info.js';

/** @type {Record<string, { label: string, start: typeof sse.start }>} */
const TRANSPORTS = { sse, eventsource, ws };

const HINTS = {
  sse: 'POST /v1/streams answers text/event-stream, read with fetch. Drop = abort the fetch, then GET …/events with Last-Event-ID.',
  eventsource:
    'POST /v1/streams (Accept: application/json) starts a detached stream; the browser’s EventSource reads its events_url. Drop = close it, open a new one at ?after=N.',
  ws: 'One socket to /v1/ws carries start / cancel / resume frames. Drop = close the socket, open a new one, resume after the last seq.',
  race: 'The same request through fetch + SSE and WebSocket at the same moment. Race turns are single-turn (no conversation_id).',
};

/** @param {string} id */
function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`#${id} is missing from index.html`);
  return node;
}

const form = /** @type {HTMLFormElement} */ (byId('chat-form'));
const prompt = /** @type {HTMLTextAreaElement} */ (byId('prompt'));
const system = /** @type {HTMLTextAreaElement} */ (byId('system'));
const model = /** @type {HTMLInputElement} */ (byId('model'));
const maxTokens = /** @type {HTMLInputElement} */ (byId('max-tokens'));
const multiTurn = /** @type {HTMLInputElement} */ (byId('multi-turn'));
const conversationLine = byId('conversation');
const transcript = byId('transcript');
const notice = byId('notice');
const hint = byId('transport-hint');
const sendButton = /** @type {HTMLButtonElement} */ (byId('send'));
const stopButton = /** @type {HTMLButtonElement} */ (byId('stop'));
const dropButton = /** @type {HTMLButtonElement} */ (byId('drop'));
const newChatButton = /** @type {HTMLButtonElement} */ (byId('new-chat'));

/** @type {string | undefined} */
let conversationId;
let conversationTurns = 0;
/** @type {{ cancel(): void, drop(): boolean, done: Promise<unknown> } | undefined} */
let current;

/** Works on plain http too (crypto.randomUUID needs a secure context). */
function newConversationId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function transportChoice() {
  const checked = /** @type {HTMLInputElement | null} */ (
    form.querySelector('input[name="transport"]:checked')
  );
  return checked?.value ?? 'sse';
}

/** @param {string} text @param {boolean} inConversation */
function buildRequest(text, inConversation) {
  /** @type {Record<string, unknown>} */
  const request = { message: text };
  if (model.value.trim() !== '') request.model = model.value.trim();
  // Sent as typed: the relay validates it and its 400 message is shown as is.
  if (maxTokens.value.trim() !== '') request.max_tokens = Number(maxTokens.value);
  if (system.value.trim() !== '') request.system = system.value;
  if (inConversation) {
    conversationId ??= newConversationId();
    request.conversation_id = conversationId;
  }
  return request;
}

/** @param {string} text */
function showNotice(text) {
  notice.hidden = text === '';
  notice.textContent = text;
}

function showConversation() {
  conversationLine.textContent =
    conversationId === undefined
      ? 'New conversation.'
      : `Conversation ${conversationId} · ${conversationTurns} turn${conversationTurns === 1 ? '' : 's'}`;
  if (conversationId === undefined) delete transcript.dataset.conversationId;
  else transcript.dataset.conversationId = conversationId;
}

/** @param {boolean} running */
function setRunning(running) {
  sendButton.disabled = running;
  stopButton.disabled = !running;
  dropButton.disabled = !running;
  document.body.dataset.running = String(running);
}

function send() {
  if (current !== undefined) return;
  const text = prompt.value;
  if (text.trim() === '') {
    showNotice('Type a prompt first.');
    prompt.focus();
    return;
  }
  showNotice('');
  transcript.querySelector('.empty')?.remove();

  const choice = transportChoice();
  const turn = document.createElement('section');
  turn.className = 'turn';
  turn.dataset.testid = 'turn';
  turn.dataset.mode = choice;
  const user = document.createElement('div');
  user.className = 'user-msg';
  user.dataset.testid = 'user-text';
  user.textContent = text;
  turn.append(user);
  transcript.append(turn);

  if (choice === 'race') {
    const note = document.createElement('p');
    note.className = 'turn-note';
    note.textContent =
      'Race: the same request through both transports at once (not part of the conversation).';
    turn.append(note);
    current = startRace(buildRequest(text, false), turn);
  } else {
    const transport = TRANSPORTS[choice] ?? sse;
    const inConversation = multiTurn.checked;
    const view = createStreamView(turn, { label: transport.label });
    const control = transport.start(buildRequest(text, inConversation), view.handlers);
    current = { cancel: () => control.cancel(), drop: () => control.drop(), done: view.done };
    if (inConversation) {
      view.done.then(({ state }) => {
        if (state !== 'error') conversationTurns += 1;
        showConversation();
      });
    }
  }
  showConversation();
  prompt.value = '';
  setRunning(true);
  turn.scrollIntoView({ block: 'nearest' });
  current.done.finally(() => {
    current = undefined;
    setRunning(false);
    prompt.focus();
  });
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});

prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    form.requestSubmit();
  }
});

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && current !== undefined) current.cancel();
});

stopButton.addEventListener('click', () => current?.cancel());

dropButton.addEventListener('click', () => {
  if (current === undefined) return;
  if (!current.drop()) showNotice('Nothing to drop yet: the stream has no connection to cut right now.');
});

newChatButton.addEventListener('click', () => {
  current?.cancel();
  conversationId = undefined;
  conversationTurns = 0;
  transcript.replaceChildren();
  showNotice('');
  showConversation();
  prompt.focus();
});

for (const radio of form.querySelectorAll('input[name="transport"]')) {
  radio.addEventListener('change', () => {
    hint.textContent = HINTS[/** @type {keyof typeof HINTS} */ (transportChoice())] ?? '';
  });
}
hint.textContent = HINTS[/** @type {keyof typeof HINTS} */ (transportChoice())] ?? '';

for (const chip of document.querySelectorAll('button.chip')) {
  chip.addEventListener('click', () => {
    prompt.value = /** @type {HTMLElement} */ (chip).dataset.prompt ?? '';
    prompt.focus();
  });
}

setRunning(false);
showConversation();
// Ready once the page knows whether the relay wants a key (and has one if it does), and the
// upstream line is filled (or says what it could not read), so tests see it settled.
void ensureKey()
  .then(() =>
    showUpstreamInfo({
      line: byId('upstream-info'),
      model,
      suggestions: /** @type {HTMLDataListElement} */ (byId('models')),
    }),
  )
  .finally(() => {
    document.body.dataset.ready = 'true';
  });
