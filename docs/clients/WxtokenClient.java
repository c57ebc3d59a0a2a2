// A client of wxtoken serve for Java 11+ (java.net.http) and Jackson
// (com.fasterxml.jackson.core:jackson-databind; Debian:
// libjackson2-databind-java). Put it in your package and add that line.
//
//   var c = new WxtokenClient("https://wxtoken.internal:8443", System.getenv("WXTOKEN_KEY"), "shop");
//   JsonNode answer = c.call(tok -> sendTemplateMessage(tok, ...)); // repaired once on 40001
//   JsonNode sig = c.signature("https://example.com/page");        // what wx.config takes
//
// The token is kept for at most a minute and never past its expiry;
// call() repairs the rare refusal in between. Safe for concurrent use.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

public final class WxtokenClient {
  /** Errcodes that mean "this access_token is not valid (any more)". */
  public static final Set<Integer> TOKEN_ERRCODES = Set.of(40001, 40014, 41001, 42001);

  /** What every failure throws: the HTTP status (0: server not reached) and the errcode. */
  public static final class WxtokenException extends IOException {
    private static final long serialVersionUID = 1L;
    public final int status, errcode;
    public final String errmsg;

    public WxtokenException(int status, int errcode, String errmsg) {
      super("wxtoken: HTTP " + status + ", errcode " + errcode + ": " + errmsg);
      this.status = status;
      this.errcode = errcode;
      this.errmsg = errmsg;
    }
  }

  /** A WeChat API call that takes the token and returns its JSON answer. */
  @FunctionalInterface
  public interface Call {
    JsonNode apply(String token) throws Exception;
  }

  private final HttpClient http =
      HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(Duration.ofSeconds(5)).build();
  private final ObjectMapper json = new ObjectMapper();
  private final String base, key, app;
  private String tok;
  private long until;

  public WxtokenClient(String base, String key, String app) {
    this.base = base.replaceAll("/+$", "");
    this.key = key;
    this.app = app;
  }

  private JsonNode req(String method, String path, Object body) throws IOException, InterruptedException {
    var b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(35))
        .header("Authorization", "Bearer " + key)
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body)));
    if (body != null) b.header("Content-Type", "application/json");
    HttpResponse<String> resp;
    try {
      resp = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new WxtokenException(0, -1, "cannot reach " + base + ": " + e);
    }
    JsonNode v;
    try {
      v = json.readTree(resp.body());
    } catch (IOException e) {
      v = null;
    }
    if (v == null || !v.isObject()) {
      v = json.createObjectNode().put("errcode", resp.statusCode() * 100).put("errmsg", "no JSON answer (HTTP " + resp.statusCode() + ")");
    }
    if (resp.statusCode() != 200) {
      throw new WxtokenException(resp.statusCode(), v.path("errcode").asInt(resp.statusCode() * 100), v.path("errmsg").asText());
    }
    return v;
  }

  private synchronized String keep(JsonNode v) {
    tok = v.get("access_token").asText();
    until = System.currentTimeMillis() + Math.max(0, Math.min(60, v.get("expires_in").asLong() - 30)) * 1000;
    return tok;
  }

  /** The app's access_token, from memory when fresh enough. */
  public synchronized String token() throws IOException, InterruptedException {
    return tok != null && System.currentTimeMillis() < until ? tok : keep(req("GET", "/v1/token/" + app, null));
  }

  /** Reports a token a WeChat API refused; returns the current token. */
  public String invalidate(String rejected) throws IOException, InterruptedException {
    return keep(req("POST", "/v1/token/" + app + "/invalidate", Map.of("access_token", rejected)));
  }

  /** Runs fn(token); if the answer says the token is invalid, reports it and runs fn once more. */
  public JsonNode call(Call fn) throws Exception {
    String t = token();
    JsonNode a = fn.apply(t);
    return TOKEN_ERRCODES.contains(a.path("errcode").asInt()) ? fn.apply(invalidate(t)) : a;
  }

  /** A JS-SDK ticket: jsapi, or agent_config for WeCom. */
  public String ticket(String kind) throws IOException, InterruptedException {
    return req("GET", "/v1/ticket/" + app + "/" + kind, null).get("ticket").asText();
  }

  /** The appId, timestamp, nonceStr and signature wx.config takes for the page at url. */
  public JsonNode signature(String url) throws IOException, InterruptedException {
    return signature(url, "jsapi");
  }

  /** The same for ticket "jsapi" (wx.config) or, on WeCom, "agent_config" (wx.agentConfig). */
  public JsonNode signature(String url, String ticket) throws IOException, InterruptedException {
    return req("POST", "/v1/jsapi/" + app + "/signature", Map.of("url", url, "ticket", ticket));
  }
}
