import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART } from '../charts/promql.js';
import { helmPath } from '../charts/tools.js';
import type { ControlPlane } from './control-plane.js';

const RENDERER = join(process.cwd(), 'dist', 'test', 'cluster', 'webhook-url-renderer.js');
export const WEBHOOK_URL_PLUGIN = 'sidegate-webhook-url';

/**
 * helm (v4, from test/charts/fetch-helm.sh) against a control plane: its own kubeconfig, and its
 * own config, cache and plugin folders, so nothing of the machine's helm setup is read or written.
 * The plugin folder holds one postrenderer/v1 plugin, `sidegate-webhook-url` (Helm 4 takes
 * post-renderers only as plugins; Helm 3 is given the script's path), which runs
 * webhook-url-renderer.js.
 */
export class Helm {
  private readonly env: NodeJS.ProcessEnv;
  /** What --post-renderer takes: Helm 4 a plugin's name, Helm 3 an executable's path. */
  readonly postRenderer: string;

  constructor(private readonly plane: ControlPlane) {
    const home = mkdtempSync(join(tmpdir(), 'sidegate-helm-'));
    const plugin = join(home, 'plugins', WEBHOOK_URL_PLUGIN);
    mkdirSync(plugin, { recursive: true });
    writeFileSync(
      join(plugin, 'plugin.yaml'),
      [
        'apiVersion: v1',
        'type: postrenderer/v1',
        `name: ${WEBHOOK_URL_PLUGIN}`,
        'version: 0.1.0',
        'runtime: subprocess',
        'runtimeConfig:',
        '  platformCommand:',
        '    - command: ${HELM_PLUGIN_DIR}/render.sh',
        '',
      ].join('\n'),
    );
    writeFileSync(join(plugin, 'render.sh'), `#!/bin/sh\nexec '${process.execPath}' '${RENDERER}' "$@"\n`);
    chmodSync(join(plugin, 'render.sh'), 0o755);
    const version = spawnSync(helmPath(), ['version', '--short'], { encoding: 'utf8' }).stdout;
    this.postRenderer = version.startsWith('v3.') ? join(plugin, 'render.sh') : WEBHOOK_URL_PLUGIN;
    this.env = {
      PATH: process.env.PATH,
      HOME: home,
      KUBECONFIG: plane.kubeconfig,
      HELM_PLUGINS: join(home, 'plugins'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_DATA_HOME: join(home, 'data'),
    };
  }

  /** `helm ARGS` as is; status, stdout and stderr. Asynchronous: the test's own servers (the injector) must keep answering. */
  run(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(helmPath(), [...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      p.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      p.once('error', reject);
      p.once('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    });
  }

  /**
   * `helm install RELEASE charts/sidegate -n NAMESPACE --create-namespace --wait`, every webhook's
   * clientConfig pointed at `injectorUrl` (https://127.0.0.1:PORT) with `caFile` as its caBundle.
   * Throws with helm's output on failure.
   */
  install(release: string, namespace: string, injectorUrl: string, caFile: string, extra: readonly string[] = []): Promise<string> {
    return this.apply('install', release, namespace, injectorUrl, caFile, ['--create-namespace', ...extra]);
  }

  /** `helm upgrade` of the same, with the same post-renderer; `extra` as `--reuse-values --set ...`. */
  upgrade(release: string, namespace: string, injectorUrl: string, caFile: string, extra: readonly string[] = []): Promise<string> {
    return this.apply('upgrade', release, namespace, injectorUrl, caFile, extra);
  }

  private async apply(
    verb: 'install' | 'upgrade',
    release: string,
    namespace: string,
    injectorUrl: string,
    caFile: string,
    extra: readonly string[],
  ): Promise<string> {
    const r = await this.run([
      verb,
      release,
      CHART,
      '--namespace',
      namespace,
      '--wait',
      '--timeout',
      '90s',
      '--post-renderer',
      this.postRenderer,
      '--post-renderer-args',
      injectorUrl,
      '--post-renderer-args',
      caFile,
      ...extra,
    ]);
    if (r.status !== 0) throw new Error(`helm ${verb} ${release} against ${this.plane.server}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }
}
