/** Reads the injector config file (YAML or JSON, as the chart mounts it). */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ConfigError, DEFAULT_CONFIG, parseInjectorConfig, type InjectorConfig } from './config.js';

export async function loadInjectorConfig(path: string | undefined): Promise<InjectorConfig> {
  if (path === undefined || path === '') return DEFAULT_CONFIG;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read injector config ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new ConfigError(`injector config ${path} is not YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  return parseInjectorConfig(raw);
}
