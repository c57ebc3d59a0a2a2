<?php
// A client of wxtoken serve for PHP 8.1+ with the curl extension
// (Debian: php-cli php-curl), no Composer packages.
//
//   require 'WxtokenClient.php';
//   $c = new WxtokenClient('https://wxtoken.internal:8443', getenv('WXTOKEN_KEY'), 'shop');
//   $answer = $c->call(fn (string $tok) => send_template_message($tok, ...)); // repaired once on 40001
//   $sig = $c->signature('https://example.com/page');                       // what wx.config takes
//
// PHP-FPM workers live per request: each asks the server, which answers
// from memory, so no cache of your own is needed; within a request the
// token is kept for at most $maxAge seconds and never past its expiry.

declare(strict_types=1);

/** What every failure throws: getCode() is the errcode, $status the HTTP status (0: server not reached). */
final class WxtokenException extends RuntimeException
{
    public function __construct(public readonly int $status, int $errcode, public readonly string $errmsg)
    {
        parent::__construct("wxtoken: HTTP $status, errcode $errcode: $errmsg", $errcode);
    }
}

final class WxtokenClient
{
    /** Errcodes that mean "this access_token is not valid (any more)". */
    public const TOKEN_ERRCODES = [40001, 40014, 41001, 42001];

    private ?string $tok = null;
    private float $until = 0;

    public function __construct(
        private string $base,
        private string $key,
        private string $app,
        private float $maxAge = 60,
        private int $timeout = 35,
    ) {
        $this->base = rtrim($base, '/');
    }

    private function req(string $method, string $path, ?array $body = null): array
    {
        $ch = curl_init($this->base . $path);
        $headers = ['Authorization: Bearer ' . $this->key];
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
            curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode($body));
        }
        curl_setopt_array($ch, [CURLOPT_CUSTOMREQUEST => $method, CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => $this->timeout, CURLOPT_FOLLOWLOCATION => false]);
        $raw = curl_exec($ch);
        if ($raw === false) {
            $why = curl_error($ch);
            curl_close($ch);
            throw new WxtokenException(0, -1, "cannot reach {$this->base}: $why");
        }
        $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        curl_close($ch);
        $v = json_decode((string) $raw, true);
        if (!is_array($v)) {
            $v = ['errcode' => $status * 100, 'errmsg' => "no JSON answer (HTTP $status)"];
        }
        if ($status !== 200) {
            throw new WxtokenException($status, (int) ($v['errcode'] ?? $status * 100), (string) ($v['errmsg'] ?? ''));
        }
        return $v;
    }

    private function keep(array $v): string
    {
        $this->tok = $v['access_token'];
        $this->until = microtime(true) + max(0, min($this->maxAge, $v['expires_in'] - 30));
        return $this->tok;
    }

    /** The app's access_token, from memory when fresh enough. */
    public function token(): string
    {
        if ($this->tok !== null && microtime(true) < $this->until) {
            return $this->tok;
        }
        return $this->keep($this->req('GET', "/v1/token/{$this->app}"));
    }

    /** Reports a token a WeChat API refused; returns the current token. */
    public function invalidate(string $rejected): string
    {
        return $this->keep($this->req('POST', "/v1/token/{$this->app}/invalidate", ['access_token' => $rejected]));
    }

    /**
     * Runs $fn($token), a WeChat API call returning its decoded JSON answer;
     * if the answer says the token is invalid, reports it and runs $fn once more.
     *
     * @param callable(string): array $fn
     */
    public function call(callable $fn): array
    {
        $tok = $this->token();
        $a = $fn($tok);
        return in_array($a['errcode'] ?? 0, self::TOKEN_ERRCODES, true) ? $fn($this->invalidate($tok)) : $a;
    }

    /** A JS-SDK ticket: jsapi, or agent_config for WeCom. */
    public function ticket(string $kind = 'jsapi'): string
    {
        return $this->req('GET', "/v1/ticket/{$this->app}/$kind")['ticket'];
    }

    /** The appId, timestamp, nonceStr and signature wx.config takes for the page at $url. */
    public function signature(string $url, string $ticket = 'jsapi'): array
    {
        return $this->req('POST', "/v1/jsapi/{$this->app}/signature", ['url' => $url, 'ticket' => $ticket]);
    }
}
