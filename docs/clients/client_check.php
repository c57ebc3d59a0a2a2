<?php
// Exercises WxtokenClient.php against a running wxtoken serve and a
// WeChat simulator; run by the server's Go tests (TestClients).
//
//   php client_check.php SERVER_URL KEY APP SIM_URL DEAD_URL
//
// DEAD_URL is an address where nothing listens.

declare(strict_types=1);

require __DIR__ . '/WxtokenClient.php';

[, $server, $key, $app, $sim, $dead] = $argv;

function check(bool $ok, string $what): void
{
    if (!$ok) {
        fwrite(STDERR, "FAIL: $what\n");
        exit(1);
    }
}

function http(string $method, string $url, ?array $form = null): array
{
    $ch = curl_init($url);
    curl_setopt_array($ch, [CURLOPT_CUSTOMREQUEST => $method, CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 10]);
    if ($form !== null) {
        curl_setopt($ch, CURLOPT_POSTFIELDS, http_build_query($form));
    }
    $raw = curl_exec($ch);
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    curl_close($ch);
    return [$status, json_decode((string) $raw, true)];
}

$business = fn (string $tok): array => http('GET', "$sim/cgi-bin/getcallbackip?access_token=" . urlencode($tok))[1];

$c = new WxtokenClient($server, $key, $app);
$first = $c->token();
check(($business($first)['errcode'] ?? 0) === 0, 'the token works upstream');
check($c->token() === $first, 'a fresh token is served from memory');

// Upstream revokes the token: the next call gets 40001, the client
// reports it once and retries with the replacement.
check(http('POST', "$sim/wxsim/revoke", ['access_token' => $first])[0] === 200, 'the simulator revoked the token');
$answer = $c->call($business);
check(($answer['errcode'] ?? 0) === 0, 'the call after a revocation was repaired: ' . json_encode($answer));
check($c->token() !== $first, 'the client holds the replacement');

$sig = $c->signature('https://example.com/page?x=1');
check(!empty($sig['signature']) && !empty($sig['appId']) && $sig['url'] === 'https://example.com/page?x=1', json_encode($sig));

try {
    (new WxtokenClient($server, 'a-wrong-key-of-nobody', $app))->token();
    check(false, 'a wrong key was accepted');
} catch (WxtokenException $e) {
    check($e->status === 401 && $e->getCode() === 40100, 'a wrong key: ' . $e->getMessage());
}
try {
    (new WxtokenClient($dead, $key, $app))->token();
    check(false, 'a server that is down answered');
} catch (WxtokenException $e) {
    check($e->status === 0 && str_contains($e->getMessage(), 'cannot reach') && !str_contains($e->getMessage(), $key),
        'a server that is down: ' . $e->getMessage());
}

echo "PASS\n";
