// The pure part of logcore: turning whatever an application hands us (context objects, errors,
// hostile strings) into plain JSON-safe values, with redaction applied on the way.
// No I/O here; clients/python/logcore.py implements the same rules so both libraries emit the
// same bytes for the same input.

/** The value written in place of a redacted key. */
export const REDACTED = '[Redacted]';
/** Written in place of an object that contains itself. */
export const CIRCULAR = '[Circular]';
/** Written in place of values nested deeper than MAX_DEPTH (a logger must not overflow the stack). */
export const TOO_DEEP = '[Too deep]';
export const MAX_DEPTH = 64;
/** How many links of an error's cause chain (and levels of AggregateError.errors) are written. */
export const MAX_ERROR_DEPTH = 8;

/** A compiled `redact` option: key names redacted at any depth, and exact paths under `context`. */
export interface Redaction {
  keys: ReadonlySet<string>;
  /** Path segments relative to `context`; `*` matches any key or array index. */
  paths: readonly (readonly string[])[];
}

export const NO_REDACTION: Redaction = { keys: new Set(), paths: [] };

/**
 * Validates and compiles `options.redact`. An entry without a dot is a key name redacted wherever
 * it appears in the context (`password`); an entry with dots is a path from the line's root and
 * must start with `context.` (`context.card`, `context.users.*.email`).
 */
export function compileRedaction(redact: unknown, optionName = 'options.redact'): Redaction {
  if (redact === undefined) return NO_REDACTION;
  if (!Array.isArray(redact)) throw new TypeError(`${optionName} must be an array of strings`);
  const keys = new Set<string>();
  const paths: string[][] = [];
  redact.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string' || entry === '') {
      throw new TypeError(`${optionName}[${index}] must be a non-empty string`);
    }
    if (!entry.includes('.')) {
      keys.add(entry);
      return;
    }
    const segments = entry.split('.');
    if (segments[0] !== 'context' || segments.length < 2 || segments.some((segment) => segment === '')) {
      throw new TypeError(`${optionName}[${index}] must be a key name or a path starting with "context." (got "${entry}")`);
    }
    paths.push(segments.slice(1));
  });
  return { keys, paths };
}

interface PathCursor {
  segments: readonly string[];
  index: number;
}

// Paths still matching after descending into `key`; `redact` is set when one ends exactly here.
function advance(cursors: readonly PathCursor[], key: string): { next: PathCursor[]; redact: boolean } {
  const next: PathCursor[] = [];
  let redact = false;
  for (const cursor of cursors) {
    const segment = cursor.segments[cursor.index];
    if (segment !== '*' && segment !== key) continue;
    if (cursor.index + 1 === cursor.segments.length) redact = true;
    else next.push({ segments: cursor.segments, index: cursor.index + 1 });
  }
  return { next, redact };
}

interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * Lone UTF-16 surrogates cannot be encoded as UTF-8; both libraries replace them with U+FFFD so the
 * file stays valid UTF-8 and Node and Python agree byte for byte.
 */
export function wellFormed(text: string): string {
  const candidate = text as unknown as WellFormedString;
  return candidate.isWellFormed() ? text : candidate.toWellFormed();
}

/**
 * Converts a value to plain JSON data, following JSON.stringify's rules (toJSON, undefined and
 * functions dropped from objects and turned to null in arrays, non-finite numbers to null) plus:
 * BigInt → decimal string (a JSON number that big would be rounded by every JavaScript reader),
 * Map → object, Set → array, Error → the exception shape, cycles → "[Circular]",
 * depth past MAX_DEPTH → "[Too deep]", and redaction.
 */
export function toJsonValue(value: unknown, redaction: Redaction = NO_REDACTION): unknown {
  const cursors = redaction.paths.map((segments) => ({ segments, index: 0 }));
  return convert(value, redaction, cursors, [], 0);
}

function convert(
  value: unknown,
  redaction: Redaction,
  cursors: readonly PathCursor[],
  ancestors: object[],
  depth: number,
): unknown {
  switch (typeof value) {
    case 'string':
      return wellFormed(value);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      break;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.includes(object)) return CIRCULAR;
  if (depth >= MAX_DEPTH) return TOO_DEEP;
  if (object instanceof Error) return serializeError(object);
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    let replaced: unknown;
    try {
      replaced = toJSON.call(object);
    } catch {
      return '[toJSON failed]';
    }
    if (replaced !== object) return convert(replaced, redaction, cursors, ancestors, depth);
  }
  ancestors.push(object);
  try {
    if (Array.isArray(object)) {
      const items: unknown[] = [];
      object.forEach((item: unknown, index) => {
        const { next, redact } = advance(cursors, String(index));
        const converted = redact ? REDACTED : convert(item, redaction, next, ancestors, depth + 1);
        items.push(converted === undefined ? null : converted);
      });
      return items;
    }
    if (object instanceof Set) {
      // The Set stays in `ancestors`, so a Set containing itself is still caught as a cycle.
      return convert([...object], redaction, cursors, ancestors, depth);
    }
    const entries: Iterable<[unknown, unknown]> = object instanceof Map ? object.entries() : Object.entries(object);
    const result: Record<string, unknown> = {};
    for (const [rawKey, item] of entries) {
      const key = wellFormed(String(rawKey));
      const { next, redact } = advance(cursors, key);
      if (redact || redaction.keys.has(key)) {
        result[key] = REDACTED;
        continue;
      }
      const converted = convert(item, redaction, next, ancestors, depth + 1);
      if (converted !== undefined) result[key] = converted;
    }
    return result;
  } catch {
    // A throwing getter or proxy trap must not take the application down with its log line.
    return '[Unserializable]';
  } finally {
    ancestors.pop();
  }
}

/** The `exception` object of a line: type, message, code (when the error has one), stack, cause, errors. */
export interface SerializedError {
  type: string;
  message: string;
  code?: string | number;
  stack: string | null;
  cause?: SerializedError;
  errors?: SerializedError[];
}

/** Serializes anything thrown. Non-Error values keep the same shape, with a null stack. */
export function serializeError(thrown: unknown): SerializedError {
  return describeThrown(thrown, new Set(), 0);
}

function describeThrown(thrown: unknown, seen: Set<unknown>, depth: number): SerializedError {
  if (!(thrown instanceof Error)) {
    return { type: nonErrorType(thrown), message: nonErrorMessage(thrown), stack: null };
  }
  seen.add(thrown);
  const rawCode = safeGet(thrown, 'code');
  const code =
    typeof rawCode === 'string' ? wellFormed(rawCode) : typeof rawCode === 'number' && Number.isFinite(rawCode) ? rawCode : undefined;
  const stack = safeGet(thrown, 'stack');
  const described: SerializedError = {
    type: errorType(thrown),
    message: wellFormed(safeString(() => thrown.message)),
    ...(code === undefined ? {} : { code }),
    stack: typeof stack === 'string' ? wellFormed(stack) : null,
  };
  if (depth + 1 < MAX_ERROR_DEPTH) {
    const cause = safeGet(thrown, 'cause');
    if (cause !== undefined && !seen.has(cause)) described.cause = describeThrown(cause, seen, depth + 1);
    const errors = safeGet(thrown, 'errors');
    if (thrown instanceof AggregateError && Array.isArray(errors)) {
      described.errors = errors.filter((error) => !seen.has(error)).map((error) => describeThrown(error, seen, depth + 1));
    }
  }
  return described;
}

function errorType(error: Error): string {
  const name = safeGet(error, 'name');
  // Subclasses that do not set `name` still say "Error"; their constructor names them better.
  if (typeof name === 'string' && name !== '' && name !== 'Error') return wellFormed(name);
  const constructorName = (error.constructor as { name?: unknown } | undefined)?.name;
  return typeof constructorName === 'string' && constructorName !== '' ? constructorName : 'Error';
}

function nonErrorType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const constructorName = (value.constructor as { name?: unknown } | undefined)?.name;
  return typeof constructorName === 'string' && constructorName !== '' ? constructorName : 'Object';
}

function nonErrorMessage(value: unknown): string {
  if (typeof value === 'string') return wellFormed(value);
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(toJsonValue(value)) ?? '';
    } catch {
      return '[Unserializable]';
    }
  }
  return safeString(() => String(value));
}

function safeGet(target: object, key: string): unknown {
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function safeString(read: () => unknown): string {
  try {
    const value = read();
    return typeof value === 'string' ? value : String(value);
  } catch {
    return '[Unserializable]';
  }
}
