# -*- coding: utf-8 -*-
# Copyright: tend contributors; MIT OR Apache-2.0
"""A spec given as data (a YAML mapping in a playbook) written as TOML for tend.

One writer for one format: strings are always basic strings with every character
TOML would read specially escaped, keys are bare only when TOML allows it, and the
result is read back with Python's own TOML parser (tomllib, Python 3.11+) and
compared with the input, so what tend reads is what the playbook said.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math
import re

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class TomlError(ValueError):
    """The data cannot be written as TOML (or did not read back the same)."""


def quote(text):
    """A TOML basic string holding exactly `text`."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append("\\u%04X" % code)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def key(k):
    if not isinstance(k, str):
        raise TomlError("a key must be a string, not %r" % (k,))
    return k if _BARE_KEY.match(k) else quote(k)


def _is_table(v):
    return isinstance(v, dict)


def _is_table_array(v):
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_table(x) for x in v)


def value(v, where):
    """A TOML value (inline) for `v`."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise TomlError("%s: %r cannot be a spec value" % (where, v))
        return repr(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x, where) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (key(k), value(x, where + "." + str(k))) for k, x in v.items()) + "}"
    if v is None:
        raise TomlError("%s: null has no TOML form; leave the key out" % where)
    raise TomlError("%s: %r cannot be written as TOML" % (where, v))


def _table(lines, path, table):
    plain = [(k, v) for k, v in table.items() if not (_is_table(v) or _is_table_array(v))]
    subs = [(k, v) for k, v in table.items() if _is_table(v) or _is_table_array(v)]
    for k, v in plain:
        lines.append("%s = %s" % (key(k), value(v, ".".join(path + [str(k)]))))
    for k, v in subs:
        sub = path + [key(k)]
        if _is_table(v):
            lines.append("")
            lines.append("[%s]" % ".".join(sub))
            _table(lines, sub, v)
        else:
            for item in v:
                lines.append("")
                lines.append("[[%s]]" % ".".join(sub))
                _table(lines, sub, item)


def dumps(data):
    """`data` (a mapping) as a TOML document, checked by reading it back."""
    if not isinstance(data, dict):
        raise TomlError("a spec must be a mapping of keys to values")
    lines = []
    _table(lines, [], data)
    text = "\n".join(lines).lstrip("\n") + "\n"
    check(text, data)
    return text


def _plain(v):
    """`v` with tuples as lists (what a parser gives back)."""
    if isinstance(v, dict):
        return dict((k, _plain(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def check(text, data):
    """Reads `text` back with tomllib (Python 3.11+; else nothing to check with:
    tend's own parser still validates the file) and compares it with `data`."""
    try:
        import tomllib
    except ImportError:
        return
    try:
        back = tomllib.loads(text)
    except Exception as e:  # tomllib.TOMLDecodeError
        raise TomlError("the spec written as TOML does not parse: %s" % e)
    if back != _plain(data):
        raise TomlError("the spec written as TOML reads back differently: %r" % (back,))
