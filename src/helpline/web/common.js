// Shared by the pages: the REST client, a websocket that comes back, small formatters.

export const params = new URLSearchParams(location.search);

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  constructor(authorization) {
    this.authorization = authorization;
  }

  async request(method, path, body) {
    const headers = { authorization: this.authorization };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body ?? {}); }
  put(path, body) { return this.request("PUT", path, body); }
}

export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

// A websocket that reconnects after any close it did not ask for, with backoff, and calls
// `onopen` every time it is (re)connected: that is where a page resyncs its state from REST,
// since whatever happened while it was away came over the socket it did not have
// (seed 002 "Generic Softphone SSO": a dropped socket must not leave a call stuck).
export class LiveSocket {
  constructor(url, { onopen, onmessage, onstatus, hello, onrefused } = {}) {
    this.url = url;
    this.onrefused = onrefused;
    this.onopen = onopen;
    this.onmessage = onmessage;
    this.onstatus = onstatus || (() => {});
    this.hello = hello;
    this.delay = 500;
    this.heldUntil = 0;
    this.stopped = false;
    this.socket = null;
    this.connects = 0;
    this.open();
  }

  open() {
    if (this.stopped) return;
    const wait = this.heldUntil - Date.now();
    if (wait > 0) {
      setTimeout(() => this.open(), wait);
      return;
    }
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.onstatus("connecting");
    socket.onopen = () => {
      this.delay = 500;
      this.connects += 1;
      if (this.hello) socket.send(JSON.stringify(this.hello()));
      this.onstatus("connected");
      if (this.onopen) this.onopen(this.connects > 1);
    };
    socket.onmessage = (event) => this.onmessage && this.onmessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4401 || event.code === 4403) {
        // the credentials are refused: retrying would only hammer the server with them
        this.stopped = true;
        this.onstatus("signed out");
        if (this.onrefused) this.onrefused(event.code, event.reason);
        return;
      }
      this.onstatus("disconnected");
      if (this.stopped) return;
      setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 5000);
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // Drop the connection now and stay away for `ms` (the tests' stand-in for a network drop).
  drop(ms = 0) {
    this.heldUntil = Date.now() + ms;
    if (this.socket) this.socket.close();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close();
  }
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
}

export function el(id) {
  return document.getElementById(id);
}

export function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime() / 1000;
}
