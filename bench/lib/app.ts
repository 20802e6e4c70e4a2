import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderFile } from './conf.js';
import { freePort, spawnPinned, waitHttp, type Managed } from './procs.js';

/** The size of the body every measured request gets. */
export const BODY_BYTES = 1024;

/** What every request asks for: a static body of BODY_BYTES. */
export const APP_PATH = '/1k.bin';

export interface BenchApp {
  readonly h1Port: number;
  readonly h2cPort: number;
  readonly managed: Managed;
}

/**
 * The app behind every front: nginx (bench/conf/nginx-app.conf) serving APP_PATH over HTTP/1.1 and
 * h2c on two free ports, on the given core, its files and logs under `dir`; ready when it answers.
 */
export async function startApp(root: string, dir: string, core: number): Promise<BenchApp> {
  mkdirSync(join(dir, 'www'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'www', APP_PATH.slice(1)), Buffer.alloc(BODY_BYTES, 'x'));
  const h1Port = await freePort();
  const h2cPort = await freePort();
  const conf = join(dir, 'nginx-app.conf');
  writeFileSync(conf, renderFile(join(root, 'bench/conf/nginx-app.conf'), { DIR: dir, H1_PORT: h1Port, H2C_PORT: h2cPort }));
  const managed = spawnPinned('app', core, 'nginx', ['-c', conf, '-e', '/dev/stderr'], join(dir, 'app.log'));
  await waitHttp(`http://127.0.0.1:${h1Port}${APP_PATH}`, managed);
  return { h1Port, h2cPort, managed };
}
