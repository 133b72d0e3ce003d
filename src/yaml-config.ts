// YAML configuration files with errors that name file, line and field, and `${VAR}` expansion:
// the one loader behind the agent's config.yml (src/supervisor/config.ts) and the hub's alerts.yml
// (src/hub/alerting/config.ts). No dependency but `yaml`, and that only while a file is parsed.

import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import type { Node } from 'yaml';
import { ConfigError, type ConfigIssue } from './errors.js';

export type PathSeg = string | number;

/** ['monitoring', 'health_checks', 1, 'url'] → `monitoring.health_checks[1].url`. */
export function pathString(path: readonly PathSeg[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : (s ? `.${seg}` : seg);
  return s;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** A parsed file and the means to report on it; valid only inside parseYamlConfig's callback. */
export interface YamlConfigDocument {
  file: string;
  /** The document as plain data (null for an empty file). */
  root: unknown;
  /** Findings so far; parseYamlConfig throws them as one ConfigError when the callback returns. */
  issues: ConfigIssue[];
  /** The line of the node at `path`, or of its deepest existing ancestor. */
  lineOf(path: readonly PathSeg[]): number | null;
  fail(path: readonly PathSeg[], message: string): void;
  /** Warns (`file:line path is not a known setting and is ignored`) for each key not in `known`. */
  warnUnknown(obj: Record<string, unknown>, known: readonly string[], path: readonly PathSeg[]): void;
  /**
   * `${VAR}` / `${VAR:-default}` from `vars`; an unset variable without a default is an issue at
   * `path` ("refers to ${VAR}, which is not set in <where>").
   */
  expand(value: string, path: readonly PathSeg[], vars: Readonly<Record<string, string | undefined>>, where?: string): string;
}

export interface YamlConfigOptions {
  warn: (message: string) => void;
}

type YamlModule = typeof import('yaml');

/**
 * Runs `use` with the yaml package loaded for this call only. A config is read once, at start, and
 * yaml's code stays in the heap as long as anything can reach the module: measured in the agent,
 * that is about 2 MB of private memory on top of pg (7 MB RSS on a bare node) for the process's
 * whole life. Loaded through require and dropped from require.cache afterwards, it is garbage once
 * the config is parsed. When something else in the process holds yaml already, it is left alone.
 */
function withYaml<T>(use: (yaml: YamlModule) => T): T {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('yaml/package.json')) + sep;
  const ownedHere = !Object.keys(require.cache).some((k) => k.startsWith(root));
  try {
    return use(require('yaml') as YamlModule);
  } finally {
    if (ownedHere) for (const k of Object.keys(require.cache)) if (k.startsWith(root)) delete require.cache[k];
  }
}

/**
 * Parses `text` (read from `file`) and hands it to `build`, which validates and returns the config.
 * YAML syntax errors, and any issue `build` records, are thrown as one ConfigError (OBS_ERR_CONFIG).
 */
export function parseYamlConfig<T>(text: string, file: string, options: YamlConfigOptions, build: (doc: YamlConfigDocument) => T): T {
  return withYaml(({ parseDocument, LineCounter, isMap, isSeq, isScalar }) => {
    const lineCounter = new LineCounter();
    const parsed = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
    const issues: ConfigIssue[] = [];
    const lineAt = (offset: number | undefined) => (offset === undefined ? null : lineCounter.linePos(offset).line);
    for (const e of parsed.errors) issues.push({ file, line: lineAt(e.pos[0]), path: '(yaml)', message: e.message.split('\n')[0]! });
    if (issues.length) throw new ConfigError(issues);

    const nodeAt = (path: readonly PathSeg[]): Node | null => {
      let node: unknown = parsed.contents;
      let last: Node | null = (parsed.contents as Node | null) ?? null;
      for (const seg of path) {
        if (isMap(node)) {
          const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
          if (!pair) break;
          node = pair.value ?? pair.key;
        } else if (isSeq(node) && typeof seg === 'number') {
          node = node.items[seg];
        } else break;
        if (node && typeof node === 'object' && 'range' in node) last = node as Node;
      }
      return last;
    };
    const lineOf = (path: readonly PathSeg[]) => lineAt(nodeAt(path)?.range?.[0]);
    const fail = (path: readonly PathSeg[], message: string) => { issues.push({ file, line: lineOf(path), path: pathString(path), message }); };
    const doc: YamlConfigDocument = {
      file,
      root: parsed.toJS({ maxAliasCount: 100 }) as unknown,
      issues,
      lineOf,
      fail,
      warnUnknown(obj, known, path) {
        for (const key of Object.keys(obj)) {
          if (!known.includes(key)) options.warn(`${file}:${lineOf([...path, key]) ?? '?'} ${pathString([...path, key])} is not a known setting and is ignored`);
        }
      },
      expand(value, path, vars, where = 'the environment') {
        return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_all, name: string, fallback: string | undefined) => {
          const v = vars[name];
          if (v !== undefined && v !== '') return v;
          if (fallback !== undefined) return fallback;
          fail(path, `refers to \${${name}}, which is not set in ${where}`);
          return '';
        });
      },
    };
    const config = build(doc);
    if (issues.length) throw new ConfigError(issues);
    return config;
  });
}
