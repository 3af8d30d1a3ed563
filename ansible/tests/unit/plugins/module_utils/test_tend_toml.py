# -*- coding: utf-8 -*-
"""The TOML writer of tend_service's spec_content: every value reads back as given
(with Python's tomllib, and in .ci/ansible/run.sh with tend itself), and what TOML
cannot hold is refused by name. Run: python3 -m unittest discover ansible/tests/unit
(run.sh does, with the collection installed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import tomllib
import unittest

from ansible_collections.tend.tend.plugins.module_utils.tend_toml import TomlError, dumps, quote

HOSTILE = "a  b 'q' \"d\" $x ${y} `touch X` $(touch Y) %n %% \\ \\n \t tab \r\n nl \x00 \x1f \x7f é 🦀 # [t] = '''"


class TomlWriter(unittest.TestCase):
    def test_strings_read_back_exactly(self):
        for s in [HOSTILE, "", '"', "\\", "'''", '"""', "\u2028", "end\\"]:
            self.assertEqual(tomllib.loads("k = " + quote(s))["k"], s, repr(s))

    def test_a_spec_reads_back_as_given(self):
        spec = {
            "name": "orders",
            "command": "/opt/orders/" + HOSTILE,
            "args": ["--listen", "0.0.0.0:8080", HOSTILE],
            "user": "orders",
            "env": {"GREETING": HOSTILE, "weird key.with dots": "v", "": "empty key"},
            "stop": {"timeout": "5s"},
            "health": {"http": "http://127.0.0.1:8080/healthz", "retries": 3, "ok": True, "ratio": 0.5},
            "listen": [{"name": "http", "address": "127.0.0.1:8080"}, {"name": "b", "address": "[::1]:9"}],
            "empty": [],
            "table": {"inline": {"a": 1}, "list": [[1, 2], ["x"]]},
        }
        text = dumps(spec)
        self.assertEqual(tomllib.loads(text), spec, text)
        self.assertIn("[[listen]]", text)
        self.assertIn('"weird key.with dots" = "v"', text)

    def test_what_toml_cannot_hold_is_refused(self):
        for bad, says in [
            ({"a": None}, "a: null"),
            ({"t": {"b": [1, None]}}, "t.b: null"),
            ({"f": float("nan")}, "f:"),
            ({1: "x"}, "key must be a string"),
            (["not", "a", "mapping"], "mapping"),
        ]:
            with self.assertRaises(TomlError) as e:
                dumps(bad)
            self.assertIn(says, str(e.exception))


if __name__ == "__main__":
    unittest.main()
