// Exercises WxtokenClient.java against a running wxtoken serve and a
// WeChat simulator; run by the server's Go tests (TestClients).
//
//   java -cp jackson-databind.jar:jackson-core.jar:jackson-annotations.jar:. ClientCheck SERVER_URL KEY APP SIM_URL DEAD_URL
//
// DEAD_URL is an address where nothing listens.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

public final class ClientCheck {
  static final HttpClient HTTP = HttpClient.newHttpClient();
  static final ObjectMapper JSON = new ObjectMapper();

  static void check(boolean ok, String what) {
    if (!ok) {
      System.err.println("FAIL: " + what);
      System.exit(1);
    }
  }

  static HttpResponse<String> send(HttpRequest r) throws Exception {
    return HTTP.send(r, HttpResponse.BodyHandlers.ofString());
  }

  public static void main(String[] args) throws Exception {
    String server = args[0], key = args[1], app = args[2], sim = args[3], dead = args[4];
    WxtokenClient.Call business = tok -> JSON.readTree(send(HttpRequest.newBuilder(
        URI.create(sim + "/cgi-bin/getcallbackip?access_token=" + URLEncoder.encode(tok, StandardCharsets.UTF_8))).build()).body());

    var c = new WxtokenClient(server, key, app);
    String first = c.token();
    check(business.apply(first).path("errcode").asInt() == 0, "the token works upstream");
    check(c.token().equals(first), "a fresh token is served from memory");

    // Upstream revokes the token: the next call gets 40001, the client
    // reports it once and retries with the replacement.
    var revoke = HttpRequest.newBuilder(URI.create(sim + "/wxsim/revoke"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("access_token=" + URLEncoder.encode(first, StandardCharsets.UTF_8))).build();
    check(send(revoke).statusCode() == 200, "the simulator revoked the token");
    JsonNode answer = c.call(business);
    check(answer.path("errcode").asInt() == 0, "the call after a revocation was repaired: " + answer);
    check(!c.token().equals(first), "the client holds the replacement");

    JsonNode sig = c.signature("https://example.com/page?x=1");
    check(!sig.path("signature").asText().isEmpty() && !sig.path("appId").asText().isEmpty()
        && sig.path("url").asText().equals("https://example.com/page?x=1"), sig.toString());

    try {
      new WxtokenClient(server, "a-wrong-key-of-nobody", app).token();
      check(false, "a wrong key was accepted");
    } catch (WxtokenClient.WxtokenException e) {
      check(e.status == 401 && e.errcode == 40100, "a wrong key: " + e.getMessage());
    }
    try {
      new WxtokenClient(dead, key, app).token();
      check(false, "a server that is down answered");
    } catch (WxtokenClient.WxtokenException e) {
      check(e.status == 0 && e.getMessage().contains("cannot reach") && !e.getMessage().contains(key), "a server that is down: " + e.getMessage());
    }
    System.out.println("PASS");
  }
}
