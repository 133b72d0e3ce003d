"""logcore: structured JSON logging for Python applications (standard library only, Python >= 3.8).

The Python twin of the Node library ``observ-fleet/logcore``. Both write one JSON object per line::

    {"timestamp":"2026-02-08T20:30:00.123Z","level":"INFO","logger":"my_app","message":"User action","context":{"user_id":123}}

Usage::

    from logcore import get_logger

    logger = get_logger(__name__, log_file='/opt/deployments/my-app/current/logs/app.log')
    logger.info("User action", extra={'context': {'user_id': 123}})
    try:
        process_payment()
    except Exception:
        logger.error("Payment failed", exc_info=True, extra={'context': {'order_id': 456}})

Line format (identical in both libraries):

* keys in this order: timestamp, level, logger, message, context, and exception only when one is
  attached; compact separators, UTF-8, no escaping of non-ASCII text;
* timestamp: ISO-8601 UTC with milliseconds (``2026-02-08T20:30:00.123Z``);
* level: TRACE, DEBUG, INFO, WARN, ERROR, FATAL. Python's WARNING is written WARN and CRITICAL is
  written FATAL; any other number maps to the name of the band it falls in (``5`` is TRACE);
* context: always present, ``{}`` when empty;
* exception: ``{"type", "message", "code" (OSError errno name, when known), "stack", "cause",
  "errors"}``; ``cause`` follows ``__cause__``, else ``__context__`` unless suppressed, and has the
  same shape; ``errors`` lists an ExceptionGroup's exceptions.
"""

import builtins
import errno
import json
import logging
import logging.handlers
import math
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Mapping

__all__ = [
    'get_logger',
    'child',
    'LogcoreFormatter',
    'level_label',
    'serialize_exception',
    'TRACE',
    'REDACTED',
]

#: Below DEBUG; use ``logger.log(logcore.TRACE, ...)``.
TRACE = 5
REDACTED = '[Redacted]'
CIRCULAR = '[Circular]'
TOO_DEEP = '[Too deep]'
MAX_DEPTH = 64
MAX_ERROR_DEPTH = 8
# Integers past this are written as strings: the agent reads lines with JavaScript, which would
# round them, and the Node library writes BigInt the same way.
MAX_SAFE_INTEGER = 2 ** 53 - 1

# ExceptionGroup exists from Python 3.11.
_BASE_EXCEPTION_GROUP = getattr(builtins, 'BaseExceptionGroup', None)

# A lone UTF-16 surrogate cannot be encoded as UTF-8; both libraries write U+FFFD instead.
_SURROGATE = re.compile('[\ud800-\udfff]')

_LEVEL_NAMES = {
    'TRACE': TRACE,
    'DEBUG': logging.DEBUG,
    'INFO': logging.INFO,
    'WARN': logging.WARNING,
    'WARNING': logging.WARNING,
    'ERROR': logging.ERROR,
    'FATAL': logging.CRITICAL,
    'CRITICAL': logging.CRITICAL,
    'SILENT': logging.CRITICAL + 10,
}


def level_label(levelno):
    """The ``level`` field for a logging level number."""
    if levelno < logging.DEBUG:
        return 'TRACE'
    if levelno < logging.INFO:
        return 'DEBUG'
    if levelno < logging.WARNING:
        return 'INFO'
    if levelno < logging.ERROR:
        return 'WARN'
    if levelno < logging.CRITICAL:
        return 'ERROR'
    return 'FATAL'


def _parse_level(level):
    if isinstance(level, bool):
        raise TypeError('level must be a logging level number or name (got %r)' % (level,))
    if isinstance(level, int):
        return level
    if isinstance(level, str) and level.upper() in _LEVEL_NAMES:
        return _LEVEL_NAMES[level.upper()]
    raise TypeError('level must be a logging level number or one of %s (got %r)'
                    % (', '.join(sorted(_LEVEL_NAMES)), level))


def _compile_redaction(redact):
    """Key names (no dot) are redacted at any depth of the context; dotted paths start with
    ``context.`` and may use ``*`` for any key or list index."""
    if redact is None:
        return frozenset(), ()
    if isinstance(redact, str) or not isinstance(redact, (list, tuple)):
        raise TypeError('redact must be a list of strings')
    keys = set()
    paths = []
    for index, entry in enumerate(redact):
        if not isinstance(entry, str) or entry == '':
            raise TypeError('redact[%d] must be a non-empty string' % index)
        if '.' not in entry:
            keys.add(entry)
            continue
        segments = entry.split('.')
        if segments[0] != 'context' or '' in segments:
            raise TypeError('redact[%d] must be a key name or a path starting with "context." (got "%s")'
                            % (index, entry))
        paths.append(tuple(segments[1:]))
    return frozenset(keys), tuple(paths)


def _advance(cursors, key):
    following = []
    redact = False
    for segments, index in cursors:
        segment = segments[index]
        if segment != '*' and segment != key:
            continue
        if index + 1 == len(segments):
            redact = True
        else:
            following.append((segments, index + 1))
    return following, redact


def _key_text(key):
    if isinstance(key, str):
        return key
    if key is None:
        return 'null'
    if isinstance(key, bool):
        return 'true' if key else 'false'
    return str(key)


def to_json_value(value, redaction=(frozenset(), ())):
    """Plain JSON data for ``value``: the same rules as the Node library (non-finite floats to null,
    big integers to strings, cycles to "[Circular]", depth past 64 to "[Too deep]", exceptions to
    the exception shape, anything else unknown to ``str(value)``), with redaction applied."""
    keys, paths = redaction
    return _convert(value, keys, tuple((path, 0) for path in paths), set(), 0)


def _convert(value, keys, cursors, ancestors, depth):
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value) if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(int(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if id(value) in ancestors:
        return CIRCULAR
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, BaseException):
        return serialize_exception(value)
    ancestors.add(id(value))
    try:
        if isinstance(value, Mapping):
            result = {}
            for raw_key, item in value.items():
                key = _key_text(raw_key)
                following, redact = _advance(cursors, key)
                if redact or key in keys:
                    result[key] = REDACTED
                else:
                    result[key] = _convert(item, keys, following, ancestors, depth + 1)
            return result
        if isinstance(value, (list, tuple, set, frozenset)):
            items = []
            for index, item in enumerate(value):
                following, redact = _advance(cursors, str(index))
                items.append(REDACTED if redact else _convert(item, keys, following, ancestors, depth + 1))
            return items
        isoformat = getattr(value, 'isoformat', None)
        if callable(isoformat):
            return isoformat()
        return str(value)
    except Exception:
        # A broken __str__ or mapping must not take the application down with its log line.
        return '[Unserializable]'
    finally:
        ancestors.discard(id(value))


def _exception_type(exc):
    cls = type(exc)
    module = getattr(cls, '__module__', None)
    name = getattr(cls, '__qualname__', cls.__name__)
    if module in (None, 'builtins', '__main__'):
        return name
    return '%s.%s' % (module, name)


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return '[Unserializable]'


def _stack(exc):
    try:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False)
        return ''.join(lines).rstrip('\n')
    except Exception:
        return None


def serialize_exception(exc):
    """The ``exception`` object for an exception instance."""
    return _describe(exc, set(), 0)


def _describe(exc, seen, depth):
    seen.add(id(exc))
    described = {'type': _exception_type(exc), 'message': _safe_str(exc)}
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        # The symbolic name (ENOENT), as Node puts in err.code.
        described['code'] = errno.errorcode.get(exc.errno, exc.errno)
    described['stack'] = _stack(exc)
    if depth + 1 < MAX_ERROR_DEPTH:
        cause = exc.__cause__
        if cause is None and not exc.__suppress_context__:
            cause = exc.__context__
        if cause is not None and id(cause) not in seen:
            described['cause'] = _describe(cause, seen, depth + 1)
        grouped = getattr(exc, 'exceptions', None)
        if _is_exception_group(exc) and isinstance(grouped, (list, tuple)):
            described['errors'] = [_describe(inner, seen, depth + 1) for inner in grouped
                                   if id(inner) not in seen]
    return described


def _is_exception_group(exc):
    return _BASE_EXCEPTION_GROUP is not None and isinstance(exc, _BASE_EXCEPTION_GROUP)


def _timestamp(created):
    seconds = math.floor(created)
    # `created` is a float of epoch seconds, exact to about 0.0003 ms today: 20:30:00.123 is stored
    # as 20:30:00.12299990654. The nudge keeps such values on their millisecond instead of the one before.
    millis = min(int((created - seconds) * 1000 + 0.001), 999)
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds)) + '.%03dZ' % millis


def _context_object(context):
    if context is None:
        return {}
    if isinstance(context, Mapping):
        return context
    return {'value': context}


class LogcoreFormatter(logging.Formatter):
    """Formats a record as one logcore JSON line (without the trailing newline)."""

    def __init__(self, redact=None):
        super().__init__()
        self._redaction = _compile_redaction(redact)

    def format(self, record):
        line = {
            'timestamp': _timestamp(record.created),
            'level': level_label(record.levelno),
            'logger': record.name,
            'message': _safe_str(record.getMessage()),
            'context': to_json_value(_context_object(getattr(record, 'context', None)), self._redaction),
        }
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            line['exception'] = serialize_exception(exc_info[1])
        text = json.dumps(line, ensure_ascii=False, separators=(',', ':'), allow_nan=False)
        return _SURROGATE.sub('\ufffd', text)


class _Handlers:
    """One handler per (destination, redaction), shared by every logger that writes there, so a
    file is opened once however many modules call get_logger(__name__, log_file=...)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_key = {}

    def get(self, log_file, redact):
        target = os.path.abspath(log_file) if log_file is not None else None
        key = (target, tuple(redact) if redact is not None else None)
        with self._lock:
            handler = self._by_key.get(key)
            if handler is not None:
                return handler
            formatter = LogcoreFormatter(redact)
            if target is None:
                handler = logging.StreamHandler(sys.stdout)
            else:
                directory = os.path.dirname(target)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                # WatchedFileHandler reopens the path when logrotate has renamed the file.
                handler = logging.handlers.WatchedFileHandler(target, mode='a', encoding='utf-8')
            handler.setFormatter(formatter)
            handler._logcore = True
            self._by_key[key] = handler
            return handler


_handlers = _Handlers()


def get_logger(name, log_file=None, level=logging.INFO, redact=None):
    """A standard ``logging.Logger`` named ``name`` that writes logcore lines to ``log_file``
    (appending; directory created if missing; safe under logrotate) or, without one, to stdout.

    ``level`` is a logging number or a name (TRACE, DEBUG, INFO, WARN/WARNING, ERROR,
    FATAL/CRITICAL, SILENT). ``redact`` lists key names (redacted at any depth of the context) and
    ``context.`` paths, as in the Node library. Calling it again for the same name replaces the
    logger's logcore handler rather than adding a second one. The logger does not propagate to the
    root logger, so lines are not written twice when the application also configures logging.
    """
    if not isinstance(name, str) or name == '':
        raise TypeError('name must be a non-empty string')
    if log_file is not None and (not isinstance(log_file, (str, os.PathLike)) or str(log_file) == ''):
        raise TypeError('log_file must be a non-empty path')
    threshold = _parse_level(level)
    _compile_redaction(redact)
    handler = _handlers.get(os.fspath(log_file) if log_file is not None else None, redact)
    logger = logging.getLogger(name)
    for existing in list(logger.handlers):
        if getattr(existing, '_logcore', False) and existing is not handler:
            logger.removeHandler(existing)
    if handler not in logger.handlers:
        logger.addHandler(handler)
    logger.setLevel(threshold)
    logger.propagate = False
    return logger


class _ContextAdapter(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        extra = dict(kwargs.get('extra') or {})
        merged = dict(self.extra['context'])
        call_context = extra.get('context')
        if isinstance(call_context, Mapping):
            merged.update(call_context)
        elif call_context is not None:
            merged['value'] = call_context
        extra['context'] = merged
        kwargs['extra'] = extra
        return msg, kwargs


def child(logger, context):
    """A logger adapter whose lines carry ``context`` too (a call's own context wins on equal keys);
    the Python counterpart of the Node library's ``logger.child(context)``."""
    if not isinstance(context, Mapping):
        raise TypeError('context must be a mapping')
    return _ContextAdapter(logger, {'context': dict(context)})
