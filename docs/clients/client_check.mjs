// Exercises wxtoken_client.mjs against a running wxtoken serve and a
// WeChat simulator; run by the server's Go tests (TestClients).
//
//   node client_check.mjs SERVER_URL KEY APP SIM_URL DEAD_URL
//
// DEAD_URL is an address where nothing listens.
import assert from "node:assert/strict";
import { WxtokenClient, WxtokenError } from "./wxtoken_client.mjs";

const [server, key, app, sim, dead] = process.argv.slice(2);

const business = async (tok) => (await fetch(`${sim}/cgi-bin/getcallbackip?access_token=${encodeURIComponent(tok)}`)).json();
const revoke = async (tok) => {
  const r = await fetch(`${sim}/wxsim/revoke`, { method: "POST", body: new URLSearchParams({ access_token: tok }) });
  assert.equal(r.status, 200, "the simulator revoked the token");
};

const c = new WxtokenClient(server, key, app);
const first = await c.token();
assert.equal((await business(first)).errcode ?? 0, 0, "the token works upstream");
assert.equal(await c.token(), first, "a fresh token is served from memory");

// Upstream revokes the token: the next call gets 40001, the client
// reports it once and retries with the replacement.
await revoke(first);
const answer = await c.call(business);
assert.equal(answer.errcode ?? 0, 0, `the call after a revocation was repaired: ${JSON.stringify(answer)}`);
assert.notEqual(await c.token(), first, "the client holds the replacement");

const sig = await c.signature("https://example.com/page?x=1");
assert.ok(sig.signature && sig.appId && sig.url === "https://example.com/page?x=1", JSON.stringify(sig));

await assert.rejects(new WxtokenClient(server, "a-wrong-key-of-nobody", app).token(),
  (e) => e instanceof WxtokenError && e.status === 401 && e.errcode === 40100);
await assert.rejects(new WxtokenClient(dead, key, app).token(),
  (e) => e instanceof WxtokenError && e.status === 0 && e.message.includes("cannot reach") && !e.message.includes(key));

console.log("PASS");
