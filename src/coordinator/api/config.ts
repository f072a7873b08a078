/**
 * loadConfig(): the one edge where a config enters, as a YAML path or a plain
 * object. Both go through the same schema and raise the same ConfigError
 * (naming the file, or `<config object>`, and the field).
 */
import { applyOverrides, loadConfig as loadConfigFile, parseConfig, type Config, type Overrides } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import type { ConfigSource } from './options.js';

/** How a config given as an object is named in errors and in run.json. */
export const CONFIG_OBJECT = '<config object>';

export function configLabel(source: ConfigSource): string {
  return typeof source === 'string' ? source : CONFIG_OBJECT;
}

/** Read and validate a config; `overrides` are dotted paths ('train.epochs') applied before validation. */
export function loadConfig(source: ConfigSource, overrides: Overrides = {}): Config {
  if (typeof source === 'string') return loadConfigFile(source, overrides);
  if (source === null || typeof source !== 'object' || Array.isArray(source)) {
    throw new ConfigError(CONFIG_OBJECT, '', 'top level must be a mapping of sections (model, train, optimizer, ...)');
  }
  return parseConfig(applyOverrides(source, overrides), CONFIG_OBJECT);
}
