import { ConfigError, parseProxyConfig, proxyUsage } from '../sidecar/src/config.js';
import { restoreFastPrototypes } from '../sidecar/src/lifecycle/fast-prototypes.js';
import { keepMemoryReducerWorking } from '../sidecar/src/lifecycle/memory-reducer.js';
import { PolicyLoadError } from '../sidecar/src/policy/source.js';
import { Proxy } from '../sidecar/src/proxy.js';
import type { CliIo } from './io.js';

/**
 * `sidegate proxy`: run the sidecar until SIGTERM/SIGINT. The first signal drains gracefully
 * (exit 0); a second one exits at once (exit 1).
 */
export async function runProxy(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(proxyUsage());
    return 0;
  }
  let proxy: Proxy;
  try {
    proxy = await Proxy.start(parseProxyConfig(args, process.env));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PolicyLoadError) {
      io.err(`sidegate proxy: ${err.message}`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'ENOENT') {
      io.err(`sidegate proxy: ${e.message}`);
      return 2;
    }
    throw err;
  }
  // Process-wide V8 workarounds, so here and not in Proxy (tests run several proxies in one process).
  keepMemoryReducerWorking();
  restoreFastPrototypes();
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) {
        proxy.log.warn({ signal: sig }, 'second signal: exiting now');
        proxy.log.flush();
        resolve(1);
        return;
      }
      signalled = true;
      proxy.log.info({ signal: sig }, 'signal received');
      void proxy.shutdown(true).then((r) => resolve(r.forced ? 1 : 0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // /quitquitquit and /drain end up here too.
    void proxy.whenShutDown().then((r) => resolve(r.forced ? 1 : 0));
  });
}
