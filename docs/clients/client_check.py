"""Exercises wxtoken_client.py against a running wxtoken serve and a
WeChat simulator; run by the server's Go tests (TestClients).

    python3 client_check.py SERVER_URL KEY APP SIM_URL DEAD_URL

DEAD_URL is an address where nothing listens.
"""

import json
import sys
import urllib.parse
import urllib.request

from wxtoken_client import WxtokenClient, WxtokenError

server, key, app, sim, dead = sys.argv[1:6]


def business(tok):
    with urllib.request.urlopen(f"{sim}/cgi-bin/getcallbackip?access_token={tok}", timeout=10) as r:
        return json.load(r)


def revoke(tok):
    form = urllib.parse.urlencode({"access_token": tok}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{sim}/wxsim/revoke", data=form), timeout=10).close()


c = WxtokenClient(server, key, app)
first = c.token()
assert business(first).get("errcode", 0) == 0, "the token works upstream"
assert c.token() == first, "a fresh token is served from memory"

# Upstream revokes the token (a secret reset): the next call gets 40001,
# the client reports it once and retries with the replacement.
revoke(first)
answer = c.call(business)
assert answer.get("errcode", 0) == 0, f"the call after a revocation was repaired: {answer}"
assert c.token() != first, "the client holds the replacement"

sig = c.signature("https://example.com/page?x=1")
assert sig["signature"] and sig["url"] == "https://example.com/page?x=1" and sig["appId"], sig

try:
    WxtokenClient(server, "a-wrong-key-of-nobody", app).token()
    raise AssertionError("a wrong key was accepted")
except WxtokenError as e:
    assert e.status == 401 and e.errcode == 40100, e

try:
    WxtokenClient(dead, key, app).token()
    raise AssertionError("a server that is down answered")
except WxtokenError as e:
    assert e.status == 0 and "cannot reach" in str(e) and key not in str(e), e

print("PASS")
