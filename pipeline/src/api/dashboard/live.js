// The live stream: `GET /v1/stream` through EventSource, with the key as `access_token`
// (EventSource cannot send headers). While the connection drops and comes back, EventSource
// reconnects by itself and sends `Last-Event-ID`, so the server replays what was missed. When
// the server refuses outright (a revoked key, too many streams) EventSource gives up; then this
// asks why, and reopens after a pause with `?cursor=` set to the last event's id. A stream whose
// key is revoked while it is open ends with a `closed` event, and is not reopened.

export class Live {
  // `onEvent(type, data)` for match / lagged / alert; `onState(state, detail)` with state one of
  // connecting, connected, reconnecting, lagged, disconnected, refused.
  constructor(key, onEvent, onState) {
    this.key = key;
    this.onEvent = onEvent;
    this.onState = onState;
    this.source = null;
    this.cursor = null;
    this.retry = null;
    this.backoff = 1000;
    this.closed = false;
  }

  open() {
    this.closed = false;
    const url = new URL('v1/stream', document.baseURI);
    url.searchParams.set('access_token', this.key);
    if (this.cursor) url.searchParams.set('cursor', this.cursor);
    this.onState(this.cursor ? 'reconnecting' : 'connecting');
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener('open', () => {
      this.backoff = 1000;
      this.onState('connected');
    });
    source.addEventListener('heartbeat', (e) => {
      this.cursor = e.lastEventId || this.cursor;
      this.onState('connected');
    });
    source.addEventListener('match', (e) => {
      this.cursor = e.lastEventId || this.cursor;
      this.deliver('match', e.data);
    });
    source.addEventListener('lagged', (e) => {
      const data = this.deliver('lagged', e.data);
      if (data) this.onState('lagged', data.reason);
    });
    source.addEventListener('alert', (e) => this.deliver('alert', e.data));
    // The server's last event when the key is revoked while the stream is open: reconnecting
    // would only be refused.
    source.addEventListener('closed', () => {
      source.close();
      this.onState('refused', 'this API key was revoked');
    });
    source.addEventListener('error', () => {
      if (this.closed || source !== this.source) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.onState('reconnecting');
        return;
      }
      // Closed for good: the server answered something other than a stream.
      source.close();
      this.explain().then((why) => {
        if (this.closed || source !== this.source) return;
        if (why.status === 401) {
          this.onState('refused', why.message);
          return;
        }
        const wait = this.backoff;
        this.backoff = Math.min(this.backoff * 2, 30000);
        this.onState('disconnected', `${why.message}; retrying in ${Math.round(wait / 1000)} s`);
        this.retry = setTimeout(() => this.open(), wait);
      });
    });
  }

  deliver(type, text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return null;
    }
    this.onEvent(type, data);
    return data;
  }

  // Why the stream was refused: its status and error, read by a request that is aborted as
  // soon as the answer's head is in (a success would be a stream that never ends).
  async explain() {
    const abort = new AbortController();
    try {
      const r = await fetch('v1/stream', {
        headers: { Authorization: `Bearer ${this.key}` },
        signal: abort.signal,
        cache: 'no-store',
      });
      if (r.ok) {
        abort.abort();
        return { status: r.status, message: 'the stream ended' };
      }
      const body = await r.json().catch(() => ({}));
      return { status: r.status, message: body.error || `${r.status} ${r.statusText}` };
    } catch (e) {
      return { status: 0, message: `cannot reach the server (${e.message})` };
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
    if (this.source) this.source.close();
    this.source = null;
  }
}
