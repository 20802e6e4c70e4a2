import t from 'tap';
import { ConfigError, parseProxyConfig, PROXY_FLAGS, proxyUsage } from '../../sidecar/src/config.js';

t.test('defaults follow DESIGN.md', async (t) => {
  const c = parseProxyConfig([], {});
  t.same(c.listen, { host: '0.0.0.0', port: 15006 });
  t.same(c.admin, { host: '0.0.0.0', port: 15090 });
  t.equal(c.upstream.host, '127.0.0.1:8080');
  t.equal(c.policyFile, undefined);
  t.equal(c.maxHeaderSize, 16384);
  t.equal(c.drainDelayMs, 5000);
  t.equal(c.eventLoopLagResolutionMs, 100, "event loop lag sampled every 100 ms, not prom-client's 10");
  t.equal(parseProxyConfig(['--eventloop-lag-resolution', '1s'], {}).eventLoopLagResolutionMs, 1000);
  t.equal(c.http1Parser, 'auto', 'llhttp unless its self-check fails');
  t.equal(parseProxyConfig(['--http1-parser', 'public'], {}).http1Parser, 'public');
  t.equal(parseProxyConfig([], { SIDEGATE_HTTP1_PARSER: 'public' }).http1Parser, 'public');
});

t.test('every flag has an env twin; flags win over env', async (t) => {
  const env = {
    SIDEGATE_LISTEN: '127.0.0.1:1',
    SIDEGATE_UPSTREAM: 'h2c://127.0.0.1:9090',
    SIDEGATE_SERVICE: 'orders',
    SIDEGATE_REDIS_URL: 'redis://r:6379',
    SIDEGATE_DRAIN_DELAY: '2s',
    SIDEGATE_LOG_HEADERS: 'true',
  };
  const c = parseProxyConfig(['--listen', '127.0.0.1:2'], env);
  t.same(c.listen, { host: '127.0.0.1', port: 2 }, 'flag wins');
  t.equal(c.upstream.protocol, 'h2c:');
  t.equal(c.service, 'orders');
  t.equal(c.redisUrl, 'redis://r:6379');
  t.equal(c.drainDelayMs, 2000);
  t.equal(c.logHeaders, true);
  for (const spec of Object.values(PROXY_FLAGS)) {
    t.match(spec.env, /^SIDEGATE_[A-Z][A-Z0-9_]+$/, `${spec.flag} has env twin ${spec.env}`);
    t.ok(proxyUsage().includes(spec.flag) && proxyUsage().includes(spec.env), `${spec.flag} in --help`);
  }
  t.same(parseProxyConfig(['--admin=[::1]:9'], {}).admin, { host: '::1', port: 9 }, '--flag=value and IPv6');
});

t.test('bad values are refused naming the flag and its env twin', async (t) => {
  const bad: [string[], RegExp][] = [
    [['--listen', 'nope'], /--listen \(SIDEGATE_LISTEN\): "nope" is not HOST:PORT/],
    [['--listen', '1.2.3.4:99999'], /not HOST:PORT/],
    [['--upstream', 'https://x:1'], /scheme must be http or h2c/],
    [['--upstream', 'http://x'], /needs a host and a port/],
    [['--drain-delay', 'soon'], /--drain-delay \(SIDEGATE_DRAIN_DELAY\): "soon" is not a duration/],
    [['--max-header-size', '12'], /from 1024 to/],
    [['--log-level', 'loud'], /not one of/],
    [['--tls-cert', 'c.pem'], /go together/],
    [['--bogus'], /unknown flag --bogus/],
    [['--policy'], /needs a value/],
    [
      ['--eventloop-lag-resolution', '0.5ms'],
      /--eventloop-lag-resolution \(SIDEGATE_EVENTLOOP_LAG_RESOLUTION\): "0.5ms" must be whole milliseconds from 1ms to 10s/,
    ],
    [['--eventloop-lag-resolution', '20s'], /whole milliseconds from 1ms to 10s/],
    [['--eventloop-lag-resolution', '0'], /must be more than 0/],
    [['--h2-engine', 'node'], /unknown flag --h2-engine/],
    [['--http1-parser', 'http-parser-js'], /--http1-parser \(SIDEGATE_HTTP1_PARSER\): "http-parser-js" is not auto or public/],
  ];
  for (const [argv, re] of bad) t.throws(() => parseProxyConfig(argv, {}), re, argv.join(' '));
  t.throws(() => parseProxyConfig([], { SIDEGATE_HEADERS_TIMEOUT: '0' }), ConfigError);
  t.throws(
    () => parseProxyConfig(['--rate-limit-lease-max-period', '50ms'], {}),
    /--rate-limit-lease-max-period \(SIDEGATE_RATE_LIMIT_LEASE_MAX_PERIOD\): must be at least --rate-limit-lease-period/,
  );
});

t.test('lease periods: the longest defaults to 10 × the shortest', async (t) => {
  t.same(pick(parseProxyConfig([], {})), [100, 1000]);
  t.same(pick(parseProxyConfig(['--rate-limit-lease-period', '200ms'], {})), [200, 2000]);
  t.same(pick(parseProxyConfig(['--rate-limit-lease-max-period', '2s'], { SIDEGATE_RATE_LIMIT_LEASE_PERIOD: '250ms' })), [250, 2000]);
  t.same(pick(parseProxyConfig(['--rate-limit-lease-period', '0'], {})), [0, 0], 'leasing off');
});

function pick(c: ReturnType<typeof parseProxyConfig>): [number, number] {
  return [c.rateLimitLeasePeriodMs, c.rateLimitLeaseMaxPeriodMs];
}
