// A client of wxtoken serve for Node.js 18+ (global fetch), no packages.
// An ES module: import it from a .mjs file or a package with
// "type": "module"; from CommonJS use `await import("./wxtoken_client.mjs")`.
//
//   import { WxtokenClient } from "./wxtoken_client.mjs";
//   const c = new WxtokenClient("https://wxtoken.internal:8443", process.env.WXTOKEN_KEY, "shop");
//   const answer = await c.call((tok) => sendTemplateMessage(tok, ...)); // repaired once on 40001
//   const sig = await c.signature("https://example.com/page");         // what wx.config takes
//
// The token is kept for at most maxAge seconds (60 by default) and never
// past its expiry; call() repairs the rare refusal in between.

// Errcodes that mean "this access_token is not valid (any more)".
export const TOKEN_ERRCODES = new Set([40001, 40014, 41001, 42001]);

// WxtokenError is what every failure throws: status is the HTTP status (0
// when the server could not be reached), errcode the server's (HTTP status
// x 100) or, with 502, upstream's.
export class WxtokenError extends Error {
  constructor(status, errcode, errmsg) {
    super(`wxtoken: HTTP ${status}, errcode ${errcode}: ${errmsg}`);
    this.name = "WxtokenError";
    Object.assign(this, { status, errcode, errmsg });
  }
}

export class WxtokenClient {
  #tok = null;
  #until = 0;

  constructor(base, key, app, { maxAge = 60, timeoutMs = 35000 } = {}) {
    Object.assign(this, { base: base.replace(/\/+$/, ""), key, app, maxAge, timeoutMs });
  }

  async #req(method, path, body) {
    let r;
    try {
      r = await fetch(this.base + path, {
        method,
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { Authorization: `Bearer ${this.key}`, ...(body && { "Content-Type": "application/json" }) },
        body: body && JSON.stringify(body),
      });
    } catch (e) {
      throw new WxtokenError(0, -1, `cannot reach ${this.base}: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
    }
    let v;
    try {
      v = await r.json();
    } catch {
      v = { errcode: r.status * 100, errmsg: `no JSON answer (HTTP ${r.status})` };
    }
    if (!r.ok) throw new WxtokenError(r.status, v.errcode, v.errmsg);
    return v;
  }

  #keep(v) {
    this.#tok = v.access_token;
    this.#until = Date.now() + Math.max(0, Math.min(this.maxAge, v.expires_in - 30)) * 1000;
    return this.#tok;
  }

  // The app's access_token, from memory when fresh enough.
  async token() {
    if (this.#tok && Date.now() < this.#until) return this.#tok;
    return this.#keep(await this.#req("GET", `/v1/token/${this.app}`));
  }

  // Reports a token a WeChat API refused; resolves to the current token.
  async invalidate(rejected) {
    return this.#keep(await this.#req("POST", `/v1/token/${this.app}/invalidate`, { access_token: rejected }));
  }

  // Runs fn(token), a WeChat API call resolving to its JSON answer; if the
  // answer says the token is invalid, reports it and runs fn once more.
  async call(fn) {
    const tok = await this.token();
    const a = await fn(tok);
    return TOKEN_ERRCODES.has(a?.errcode) ? fn(await this.invalidate(tok)) : a;
  }

  // A JS-SDK ticket: jsapi, or agent_config for WeCom.
  async ticket(kind = "jsapi") {
    return (await this.#req("GET", `/v1/ticket/${this.app}/${kind}`)).ticket;
  }

  // The appId, timestamp, nonceStr and signature wx.config takes for the
  // page at url.
  signature(url, ticket = "jsapi") {
    return this.#req("POST", `/v1/jsapi/${this.app}/signature`, { url, ticket });
  }
}
