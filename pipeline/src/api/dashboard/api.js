// The `/v1` client: every request carries the key as a bearer token; errors become ApiError
// with the server's own message (`{"error": "..."}`).

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  // `method path` with an optional JSON body; resolves to the parsed JSON (null for 204).
  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, `cannot reach the server (${e.message})`);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const why = (json && json.error) || `${response.status} ${response.statusText}`;
      const retry = Number(response.headers.get('Retry-After')) || 0;
      throw new ApiError(response.status, why, retry);
    }
    return json;
  }

  signals() {
    return this.call('GET', 'v1/signals');
  }
  putSignal(id, query, options) {
    return this.call('PUT', `v1/signals/${encodeURIComponent(id)}`, { query, options });
  }
  deleteSignal(id) {
    return this.call('DELETE', `v1/signals/${encodeURIComponent(id)}`);
  }
  testSignal(query, options) {
    return this.call('POST', 'v1/signals/test', { query, options, limit: 5 });
  }
  series(id) {
    return this.call('GET', `v1/signals/${encodeURIComponent(id)}/series?step=1m`);
  }
}
