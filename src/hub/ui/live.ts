// The /live connection: reconnects by itself (backoff with jitter), re-subscribes its topics, and
// tells views to catch up (refetch) after every reconnect, since pushes sent meanwhile are gone.
// The hub sends a heartbeat (`tick`) every tickMs (announced in `hello`): three missed in a row count
// as "hub unreachable" even when the socket has not closed (a dead link closes only much later).
// Every message carries the hub's time, from which time.ts learns the clock offset.
import type { LiveMessage } from './types.js';
import { freeze, learnServerTime } from './time.js';

type Handler = (msg: LiveMessage) => void;
export type LiveState = 'connecting' | 'open' | 'closed';

export class Live {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private readonly topics = new Map<string, number>(); // topic → number of views that want it
  private readonly handlers = new Set<Handler>();
  private readonly catchUps = new Set<() => void>();
  private everOpen = false;
  private tickMs = 5000;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  state: LiveState = 'connecting';
  /** When the hub was last heard from (browser clock, ms). */
  lastHeard = 0;
  onState: (state: LiveState) => void = () => {};

  private setState(s: LiveState): void {
    this.state = s;
    freeze(s === 'closed');
    this.onState(s);
  }

  private heard(): void {
    this.lastHeard = Date.now();
    if (this.watchdog) clearTimeout(this.watchdog);
    // Silence for 3 heartbeats: treat the hub as gone and reconnect (closing fires onclose).
    this.watchdog = setTimeout(() => this.ws?.close(), 3 * this.tickMs + 1000);
  }

  connect(): void {
    // While the hub is away, reconnect attempts do not lift the "unreachable" state: only an open socket does.
    if (this.state !== 'closed') this.setState('connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/live`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.heard();
      this.setState('open');
      for (const topic of this.topics.keys()) ws.send(JSON.stringify({ subscribe: topic }));
      if (this.everOpen) for (const c of this.catchUps) c();
      this.everOpen = true;
    };
    ws.onmessage = (ev) => {
      let msg: LiveMessage;
      try { msg = JSON.parse(String(ev.data)) as LiveMessage; } catch { return; }
      if (msg.type === 'hello' && typeof msg.tickMs === 'number' && msg.tickMs > 0) this.tickMs = msg.tickMs;
      if ('at' in msg && typeof msg.at === 'string') learnServerTime(msg.at);
      this.heard();
      if (msg.type === 'resync') for (const c of this.catchUps) c();
      for (const h of this.handlers) h(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.watchdog) clearTimeout(this.watchdog);
      this.setState('closed');
      const delay = Math.min(15_000, 500 * 2 ** this.attempt++) * (0.8 + Math.random() * 0.4);
      setTimeout(() => this.connect(), delay);
    };
  }

  /** Subscribes while the returned function is not called; `catchUp` runs after every reconnect. */
  listen(topics: string[], handler: Handler, catchUp?: () => void): () => void {
    for (const t of topics) {
      const n = this.topics.get(t) ?? 0;
      this.topics.set(t, n + 1);
      if (n === 0 && t !== 'fleet') this.send({ subscribe: t });
    }
    this.handlers.add(handler);
    if (catchUp) this.catchUps.add(catchUp);
    return () => {
      this.handlers.delete(handler);
      if (catchUp) this.catchUps.delete(catchUp);
      for (const t of topics) {
        const n = (this.topics.get(t) ?? 1) - 1;
        if (n <= 0) { this.topics.delete(t); if (t !== 'fleet') this.send({ unsubscribe: t }); } else this.topics.set(t, n);
      }
    };
  }

  private send(msg: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }
}

export const live = new Live();
