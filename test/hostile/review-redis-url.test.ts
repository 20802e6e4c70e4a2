import t from 'tap';
import { parseRedisUrl } from '../../sidecar/src/redis/config.js';

/**
 * Review finding: "errors never print" the Redis password, but a URL missing its host
 * (`redis://user:pass`) prints the credentials as a bad host:port, and a password given the way
 * several clients accept it (`?password=`) is printed with the whole URL.
 */
t.test('no Redis URL error shows its password', async (t) => {
  for (const url of ['redis://default:s3cr3t', 'redis://h:6379/0?password=s3cr3t', 'rediss://h:6380?password=s3cr3t']) {
    let message = '';
    try {
      parseRedisUrl(url);
    } catch (e) {
      message = (e as Error).message;
    }
    t.notMatch(message, /s3cr3t/, `${url}: ${message}`);
  }
});
