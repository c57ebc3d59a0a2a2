"""A client of wxtoken serve for Python 3, standard library only.

    c = WxtokenClient("https://wxtoken.internal:8443", key=os.environ["WXTOKEN_KEY"], app="shop")
    token = c.token()
    # Call a WeChat API with the token; on 40001 / 42001 report it and retry once:
    answer = c.call(lambda tok: post_json(f"https://api.weixin.qq.com/cgi-bin/message/...?access_token={tok}", body))
    sig = c.signature("https://example.com/page")   # the fields wx.config takes

The token is kept for at most max_age seconds (60 by default, as WeChat's
docs suggest for workers that do not refresh themselves) and never past its
expiry; call() repairs the rare refusal in between.
"""

import json
import time
import urllib.error
import urllib.request

# Errcodes that mean "this access_token is not valid (any more)".
TOKEN_ERRCODES = {40001, 40014, 41001, 42001}


class WxtokenError(Exception):
    """wxtoken answered an error, or could not be reached (status 0, errcode -1): errcode is the
    server's (HTTP status x 100) or, with 502, upstream's."""

    def __init__(self, status, errcode, errmsg):
        super().__init__(f"wxtoken: HTTP {status}, errcode {errcode}: {errmsg}")
        self.status, self.errcode, self.errmsg = status, errcode, errmsg


class WxtokenClient:
    def __init__(self, base_url, key, app, max_age=60.0, timeout=35.0):
        self.base = base_url.rstrip("/")
        self.key, self.app = key, app
        self.max_age, self.timeout = max_age, timeout
        self._token, self._until = None, 0.0

    def _request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            try:
                err = json.load(e)
            except ValueError:
                err = {"errcode": e.code * 100, "errmsg": e.reason}
            raise WxtokenError(e.code, err.get("errcode"), err.get("errmsg")) from None
        except (urllib.error.URLError, OSError) as e:
            why = getattr(e, "reason", e)
            raise WxtokenError(0, -1, f"cannot reach {self.base}: {why}") from None

    def _keep(self, answer):
        self._token = answer["access_token"]
        self._until = time.monotonic() + min(self.max_age, max(answer["expires_in"] - 30, 0))
        return self._token

    def token(self):
        """The app's access_token, from memory when fresh enough."""
        if self._token and time.monotonic() < self._until:
            return self._token
        return self._keep(self._request("GET", f"/v1/token/{self.app}"))

    def invalidate(self, rejected):
        """Report a token a WeChat API refused; returns the current token."""
        return self._keep(self._request("POST", f"/v1/token/{self.app}/invalidate", {"access_token": rejected}))

    def call(self, fn):
        """Run fn(token), a WeChat API call returning its JSON answer as a dict.
        If the answer says the token is invalid, report it and run fn once more."""
        tok = self.token()
        answer = fn(tok)
        if isinstance(answer, dict) and answer.get("errcode") in TOKEN_ERRCODES:
            answer = fn(self.invalidate(tok))
        return answer

    def ticket(self, kind="jsapi"):
        """A JS-SDK ticket: jsapi, or agent_config for WeCom."""
        return self._request("GET", f"/v1/ticket/{self.app}/{kind}")["ticket"]

    def signature(self, url, ticket="jsapi"):
        """The appId, timestamp, nonceStr and signature wx.config takes for the page at url."""
        return self._request("POST", f"/v1/jsapi/{self.app}/signature", {"url": url, "ticket": ticket})
