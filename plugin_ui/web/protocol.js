/* Distill page <-> engine: the address manifest and the WebSocket.
 *
 * The engine's address table is the single source of truth: the page loads /protocol.json
 * (generated from engine/protocol.py) and refuses to send any address that is not in it.
 * Messages both ways are JSON {"address": "/edit/set", "args": [0, 12, 5]}, the same shape
 * as OSC; commands that take time answer "/done <address> ..." or "/fail <address> <reason>".
 */
(function (D) {
  "use strict";

  /** The manifest, normalised to {address -> route}. */
  class Protocol {
    constructor(routes, raw) {
      this.routes = new Map();
      for (const r of routes) this.routes.set(r.address, r);
      this.raw = raw;
    }
    static async load(url) {
      const res = await fetch(url, { cache: "no-store" });
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      const raw = await res.json();
      return new Protocol(Protocol.routesOf(raw), raw);
    }
    /** Accepts {"routes": [...]}, {"addresses": [...]}, a bare list, or {address: route}. */
    static routesOf(raw) {
      let list = Array.isArray(raw) ? raw : (raw.routes || raw.addresses || raw.commands);
      if (!list && raw && typeof raw === "object") {
        list = Object.entries(raw).filter(([k]) => k.startsWith("/")).map(([k, v]) => Object.assign({ address: k }, v));
      }
      return (list || []).filter((r) => r && typeof r.address === "string");
    }
    has(address) { return this.routes.has(address); }
    /** The reply that answers a route when it is not /done: /ping -> /pong, /status -> /status. */
    ownReply(address) {
      const r = this.routes.get(address);
      const replies = (r && r.replies) || [];
      const own = replies.find((m) => m.address !== "/done" && !m.repeated);
      return own ? own.address : null;
    }
    doc(address) { const r = this.routes.get(address); return (r && (r.doc || r.help)) || ""; }
    /** Minimum number of arguments a route needs (optional ones excluded). */
    minArgs(address) {
      const r = this.routes.get(address);
      if (!r || !Array.isArray(r.args)) return 0;
      return r.args.filter((a) => !(a && (a.optional || a.default !== undefined))).length;
    }
  }

  /** One WebSocket to the engine, reconnecting; request() pairs a command with its answer. */
  class Connection {
    constructor(url, protocol, log) {
      this.url = url;
      this.protocol = protocol;
      this.log = log || (() => {});
      this.ws = null;
      this.listeners = new Map();   // address -> Set(fn(args, msg))
      this.pending = [];            // {address, expect, resolve, reject, timer}
      this.onstate = () => {};
      this.backoffMs = 250;
    }
    connect() {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => { this.backoffMs = 250; this.onstate(true); };
      ws.onclose = () => {
        this.onstate(false);
        for (const p of this.pending.splice(0)) { clearTimeout(p.timer); p.reject(new Error("connection closed")); }
        setTimeout(() => this.connect(), this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, 4000);
      };
      ws.onmessage = (ev) => this._receive(ev.data);
    }
    get open() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

    on(address, fn) {
      if (!this.listeners.has(address)) this.listeners.set(address, new Set());
      this.listeners.get(address).add(fn);
    }
    /** Sends one command; returns false (and says why) when the engine does not offer it. */
    send(address, args) {
      args = args || [];
      if (!this.protocol.has(address)) {
        this.log(`not sent: ${address} is not in the engine's address table`, "fail");
        return false;
      }
      if (!this.open) { this.log(`not sent: ${address} (engine offline)`, "fail"); return false; }
      this.ws.send(JSON.stringify({ address, args }));
      return true;
    }
    /** Sends and waits for "/done address ...", "/fail address reason" or the route's own reply. */
    request(address, args, timeoutMs) {
      return new Promise((resolve, reject) => {
        if (!this.send(address, args)) { reject(new Error(`${address} not sent`)); return; }
        const expect = this.protocol.ownReply(address);
        const p = { address, expect, resolve, reject, timer: 0 };
        p.timer = setTimeout(() => {
          this.pending.splice(this.pending.indexOf(p), 1);
          reject(new Error(`${address}: no answer within ${timeoutMs || 5000} ms`));
        }, timeoutMs || 5000);
        this.pending.push(p);
      });
    }
    _receive(text) {
      let msg;
      try { msg = JSON.parse(text); } catch (e) { this.log(`unreadable message from engine`, "fail"); return; }
      if (!msg || typeof msg.address !== "string") return;
      const args = Array.isArray(msg.args) ? msg.args : [];
      msg.settled = this._settle(msg.address, args);   // listeners can tell an awaited answer apart
      const fns = this.listeners.get(msg.address);
      if (fns) for (const fn of fns) { try { fn(args, msg); } catch (e) { console.error(e); } }
      const any = this.listeners.get("*");
      if (any) for (const fn of any) fn(args, msg);
    }
    _settle(address, args) {
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i];
        const done = address === "/done" && args[0] === p.address;
        const failed = address === "/fail" && args[0] === p.address;
        const own = p.expect && address === p.expect && address !== "/done";
        if (!(done || failed || own)) continue;
        this.pending.splice(i, 1);
        clearTimeout(p.timer);
        if (failed) p.reject(new Error(String(args.slice(1).join(" ") || "failed")));
        else p.resolve(done ? args.slice(1) : args);
        return true;
      }
      return false;
    }
  }


  /** The engine's host: the page's own, or ?engine=host:port (the engine refuses other origins). */
  function engineHost() {
    const q = new URLSearchParams(location.search).get("engine");
    return q || (location.protocol === "http:" ? location.host : "127.0.0.1:9080");
  }
  /** The WebSocket path comes from the manifest's conventions, like everything else. */
  function engineUrl(protocol) {
    const ws = protocol && protocol.raw && protocol.raw.conventions && protocol.raw.conventions.websocket;
    return `ws://${engineHost()}${(ws && ws.path) || ""}`;
  }
  function manifestUrl() { return httpUrl("/protocol.json"); }
  /** An HTTP path on the engine's web port (the sound endpoints come from the manifest). */
  function httpUrl(path) { return `http://${engineHost()}${path}`; }

  D.Protocol = Protocol;
  D.Connection = Connection;
  D.engineUrl = engineUrl;
  D.manifestUrl = manifestUrl;
  D.httpUrl = httpUrl;
})(window.Distill = window.Distill || {});
