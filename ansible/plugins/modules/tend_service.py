#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tend contributors; MIT OR Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tend_service
short_description: Run a program as a native service with tend
version_added: "0.1.0"
description:
  - Installs, starts, stops, restarts, upgrades and removes a service described by a
    tend spec, on the host's own service manager (systemd, OpenRC, SysV init, ...),
    by running the C(tend) binary on the host (put it there with the
    C(tend.tend.tend_binary) role).
  - The module does no service management of its own. It runs
    C(tend install --json), C(tend uninstall --json), C(tend start), C(tend stop),
    C(tend restart), C(tend upgrade --json) and C(tend status --json), and reports
    C(changed) exactly when tend changed something (tend's "installed and up to
    date; nothing to do" is C(changed=false)).
  - Check mode runs C(tend install --dry-run) / C(tend uninstall --dry-run). Diff mode
    shows each file tend writes (the installed spec, the rendered unit or init script)
    before and after. A changed I(spec_content) is planned from a copy that tend
    treats as I(spec_dest) (C(--source)), so the diff shows what a real run writes.
  - The result carries the files tend wrote (C(install.files)) with their text only in
    diff mode, since the installed spec holds the C([env]) values. Use C(no_log) on a task
    whose spec holds secrets (its arguments and diff carry them).
  - Linux and other Unix hosts only. Windows hosts (tend.exe under the service
    control manager, reached over WinRM) have no module here yet.
options:
  name:
    description:
      - The service name (the spec's C(name)). tend's rule is letters, digits, C(-),
        C(_) and C(.), starting with a letter or digit, at most 64 characters, not
        C(tend). A spec file with several services installs the one of this name;
        a spec without it is refused by tend.
    type: str
    required: true
  spec:
    description:
      - Path of a spec file on the managed host. Relative paths in the spec are taken
        from the file's folder.
      - Mutually exclusive with I(spec_content).
    type: path
  spec_content:
    description:
      - The spec itself, written by the module to I(spec_dest) on the host (only when
        its text changes) and installed from there.
      - Either a string, used as TOML as it is, or a mapping (YAML in the playbook),
        written as TOML by the module. A mapping is written with one escaper and read
        back with Python's C(tomllib) on the host (Python 3.11+), so what tend reads is
        what the playbook said; C(null) values are refused (leave the key out). Prefer
        the mapping, which needs no quoting. Use absolute paths for C(command) (a
        relative one is taken from the folder of I(spec_dest)).
      - Mutually exclusive with I(spec).
    type: raw
  spec_dest:
    description:
      - Where I(spec_content) is written on the host (mode 0600, root's).
      - Default C(/etc/tend/ansible/NAME.toml). C(/etc/tend/NAME.toml) itself is the
        installed spec, which tend writes.
    type: path
  state:
    description:
      - C(present) installs (or updates) the service without starting it.
      - C(started) installs it if a spec is given, and starts it if it is not running
        (tend waits until it runs, and with C([health]) until it is healthy).
      - C(stopped) installs it if a spec is given, and stops it if it runs.
      - C(restarted) installs it if a spec is given, then always restarts it (and
        waits, as for C(started)).
      - C(absent) uninstalls it (see I(purge)), and removes the module's own copy of
        the spec (I(spec_dest)) if there is one; nothing to do when neither is there.
    type: str
    choices: [present, absent, started, stopped, restarted]
    default: started
  purge:
    description:
      - With I(state=absent), also remove its logs, state and the account tend created
        for it (C(tend uninstall --purge)).
    type: bool
    default: false
  restart_on_change:
    description:
      - When an install changes the spec or the unit of a running service, restart it
        so that it runs the new spec (C(tend install --restart)). Otherwise it keeps
        running the previous one until restarted (the result says so in
        C(restart_pending)).
    type: bool
    default: true
  upgrade:
    description:
      - A release to switch the service to with C(tend upgrade NAME ARTIFACT), a program
        file, or a .tar.gz or .zip of a folder; a path on the host or an http(s) URL.
        The spec needs an C([update]) section with the keys that may sign it. tend
        rolls back by itself unless the new release becomes ready.
      - C(changed) when the release current afterwards differs from the one before.
        In check mode the signature is checked (C(--dry-run)) and C(changed) unless
        tend says the release is current already (its message ends with
        "nothing to do").
    type: str
  signature:
    description:
      - The minisign signature of I(upgrade) (default C(ARTIFACT.minisig)).
    type: str
  backend:
    description:
      - The service manager (C(tend install --backend)); default detected by tend.
    type: str
  profile:
    description:
      - The spec profile to apply (C(tend install --profile)).
    type: str
  tend_path:
    description:
      - The tend binary on the host. Default C(tend) on C(PATH), then
        C(/usr/local/bin/tend).
    type: path
notes:
  - Supports check mode and diff mode.
  - Needs root on the host (C(become)) for anything but check mode.
  - Idempotence comes from tend itself; a second run with the same spec finds the
    files, account and folders as they should be and reports C(changed=false).
seealso:
  - name: tend README
    description: The spec format and what each command does.
    link: https://example.invalid/tend
author:
  - tend contributors
"""

EXAMPLES = r"""
- name: Put tend on the hosts
  ansible.builtin.include_role:
    name: tend.tend.tend_binary
  vars:
    tend_binary_source: /srv/dist/tend   # holds tend-<target> and SHA256SUMS

- name: The orders service, running and healthy
  tend.tend.tend_service:
    name: orders
    state: started
    spec_content:
      name: orders
      command: /opt/orders/orders
      args: ["--listen", "127.0.0.1:8080"]
      user: orders
      stop:
        timeout: 10s
      health:
        http: http://127.0.0.1:8080/healthz
        interval: 1s

- name: From a spec file already on the host
  tend.tend.tend_service:
    name: orders
    spec: /srv/orders/tend.toml
    state: present

- name: Restart one host at a time (tend waits until each is healthy)
  hosts: web
  serial: 1
  tasks:
    - tend.tend.tend_service:
        name: orders
        state: restarted

- name: Switch to a signed release
  tend.tend.tend_service:
    name: orders
    upgrade: https://releases.example.com/orders-2.0.tar.gz
    signature: https://releases.example.com/orders-2.0.tar.gz.minisig

- name: Gone, with its logs, state and account
  tend.tend.tend_service:
    name: orders
    state: absent
    purge: true
"""

RETURN = r"""
install:
  description: What C(tend install --json) said (in check mode, the dry run's).
  returned: when a spec was given and I(state) is not C(absent)
  type: dict
  contains:
    changed:
      description: Something was (or would be) changed.
      type: bool
    steps:
      description: What was done, one line each.
      type: list
      elements: str
    files:
      description: The files written, with C(path) and C(mode), and C(content) in
        diff mode only (the installed spec holds the C([env]) values).
      type: list
      elements: dict
    started:
      description: The install started the service.
      type: bool
    restarted:
      description: The install restarted the service with the new spec.
      type: bool
    restart_pending:
      description: It still runs the previous spec.
      type: bool
uninstall:
  description: What C(tend uninstall --json) said.
  returned: when I(state=absent)
  type: dict
  contains:
    changed:
      description: Something was (or would be) removed.
      type: bool
    steps:
      description: What was done, one line each.
      type: list
      elements: str
upgrade:
  description: What C(tend upgrade --json) said (C(ok), C(release), C(message)).
  returned: when I(upgrade) was given
  type: dict
actions:
  description: The tend commands that changed something, in order.
  returned: always
  type: list
  elements: str
  sample: ["tend install --json --name=orders --now --restart -- /etc/tend/ansible/orders.toml"]
status:
  description: C(tend status NAME --json) after the task (null when not installed).
  returned: always
  type: dict
  sample: {"name": "orders", "state": "running", "pid": 4242, "health": {"state": "healthy"}}
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.tend.tend.plugins.module_utils.tend_toml import TomlError, dumps


class Tend(object):
    """Runs the tend binary on the host and reads its JSON."""

    def __init__(self, module, path):
        self.module = module
        self.path = path
        self.changes = []

    # Every command puts its options first and `--` before its positionals (a name, a
    # path or a URL), so no value can be read as an option.

    def run(self, args, check_rc=True):
        cmd = [self.path] + args
        rc, out, err = self.module.run_command(cmd, environ_update={"LANG": "C.UTF-8", "NO_COLOR": "1"})
        if check_rc and rc != 0:
            self.module.fail_json(
                msg="`%s` failed (exit %d): %s" % (" ".join(cmd), rc, err.strip() or out.strip()),
                rc=rc,
                stdout=out,
                stderr=err,
                actions=self.changes,
            )
        return rc, out, err

    def json(self, args):
        _, out, err = self.run(args)
        try:
            return json.loads(out)
        except ValueError:
            self.module.fail_json(
                msg="`tend %s` did not print JSON (an older tend without --json?)" % " ".join(args),
                stdout=out,
                stderr=err,
            )

    def status(self, name):
        """`tend status NAME --json`, the one object; None when tend knows nothing of it."""
        rc, out, _ = self.run(["status", "--json", "--", name], check_rc=False)
        if rc != 0:
            return None
        try:
            v = json.loads(out)
        except ValueError:
            return None
        if isinstance(v, list):
            v = v[0] if v else None
        if not v or not v.get("installed"):
            return None
        return v

    def did(self, args):
        self.changes.append(" ".join(["tend"] + args))


# tend's service-name rule (ServiceName::new).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# What tend install counts as a service its manager runs (engine.rs, manager_active).
ACTIVE = ("active", "activating", "reloading", "started", "running")


def running(status):
    """Whether the service manager runs the service, as tend reports it: the manager's
    state (`active` of `tend status --json`), so a supervisor that restarts a crashing
    child (backoff) counts as running and is not started again. Without the manager's
    view, the supervisor's state."""
    if not status:
        return False
    active = status.get("active")
    if active is not None:
        return active in ACTIVE
    return status.get("state") == "running" and status.get("supervisor_alive", True)


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


def spec_text(module):
    content = module.params["spec_content"]
    if isinstance(content, dict):
        try:
            return dumps(content)
        except TomlError as e:
            module.fail_json(msg="spec_content: %s" % to_native(e))
    if isinstance(content, str):
        return content if content.endswith("\n") else content + "\n"
    module.fail_json(msg="spec_content must be a TOML string or a mapping, not %s" % type(content).__name__)


def write_spec(module, dest, text):
    """Writes `text` to `dest` (atomically, 0600) unless it holds it already; True if written."""
    if os.path.exists(dest) and read_text(dest) == text:
        return False
    folder = os.path.dirname(dest)
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tend-spec-")
    try:
        os.write(fd, to_bytes(text))
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    module.atomic_move(tmp, dest)
    return True


def file_diffs(before, outcome):
    diffs = []
    for f in outcome.get("files", []):
        diffs.append(
            dict(
                before_header=f["path"],
                after_header=f["path"],
                before=before.get(f["path"], ""),
                after=f["content"],
            )
        )
    return diffs


def without_content(outcome):
    """`outcome` with its files' text left out (the installed spec holds [env] values)."""
    out = dict(outcome)
    out["files"] = [dict((k, v) for k, v in f.items() if k != "content") for f in outcome.get("files", [])]
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            spec=dict(type="path"),
            spec_content=dict(type="raw"),
            spec_dest=dict(type="path"),
            state=dict(type="str", default="started", choices=["present", "absent", "started", "stopped", "restarted"]),
            purge=dict(type="bool", default=False),
            restart_on_change=dict(type="bool", default=True),
            upgrade=dict(type="str"),
            signature=dict(type="str"),
            backend=dict(type="str"),
            profile=dict(type="str"),
            tend_path=dict(type="path"),
        ),
        mutually_exclusive=[["spec", "spec_content"]],
        required_if=[["state", "present", ["spec", "spec_content"], True]],
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    state = p["state"]
    check = module.check_mode
    want_diff = module._diff
    if not NAME_RE.match(name) or name.lower() == "tend":
        module.fail_json(
            msg="name %r is not a service name: letters, digits, '-', '_' and '.', starting with a letter or digit, at most 64 characters, not 'tend'"
            % name
        )
    dest = p["spec_dest"] or "/etc/tend/ansible/%s.toml" % name
    if p["upgrade"] and state in ("absent", "stopped"):
        module.fail_json(msg="upgrade goes with state present, started or restarted")

    path = p["tend_path"] or module.get_bin_path("tend", opt_dirs=["/usr/local/bin"])
    if not path or not os.path.exists(path):
        module.fail_json(msg="tend is not on this host (%s); put it there with the tend.tend.tend_binary role" % (path or "not on PATH"))
    tend = Tend(module, path)
    result = dict(changed=False, name=name, actions=tend.changes)
    diffs = []

    # ---------------------------------------------------------------- absent
    if state == "absent":
        args = ["uninstall", "--json"]
        if p["purge"]:
            args.append("--purge")
        before_status = tend.status(name)
        if check:
            args.append("--dry-run")
        args += ["--", name]
        outcome = tend.json(args)
        result["uninstall"] = outcome
        if outcome.get("failed"):
            module.fail_json(msg="tend uninstall %s: a step failed" % name, **result)
        if outcome.get("changed"):
            result["changed"] = True
            if not check:
                tend.did(args)
            spec_path = (before_status or {}).get("spec")
            if want_diff and spec_path:
                diffs.append(dict(before_header=spec_path, after_header=spec_path, before=read_text(spec_path), after=""))
        # The module's own copy of the spec (it may hold [env] values) goes too.
        if os.path.exists(dest):
            result["changed"] = True
            result["spec_removed"] = dest
            if want_diff:
                diffs.append(dict(before_header=dest, after_header=dest, before=read_text(dest), after=""))
            if not check:
                try:
                    os.unlink(dest)
                except OSError as e:
                    module.fail_json(msg="cannot remove %s: %s" % (dest, to_native(e)), **result)
        result["status"] = None if check else tend.status(name)
        if check:
            result["status"] = before_status
        if want_diff:
            result["diff"] = diffs
        module.exit_json(**result)

    # ---------------------------------------------------------------- the spec
    spec = p["spec"]
    source = None
    if p["spec_content"] is not None:
        text = spec_text(module)
        old = read_text(dest) if os.path.exists(dest) else None
        if old != text:
            if want_diff:
                diffs.append(dict(before_header=dest, after_header=dest, before=old or "", after=text))
            if check:
                # Planned from a copy (the real file is not written in check mode) that
                # tend takes for `dest`: the header it writes and relative paths are
                # those of a real run.
                fd, spec = tempfile.mkstemp(dir=module.tmpdir, prefix="%s." % name, suffix=".toml")
                os.write(fd, to_bytes(text))
                os.close(fd)
                source = dest
            else:
                result["changed"] = write_spec(module, dest, text)
                spec = dest
        else:
            spec = dest
        result["spec_path"] = dest

    before_status = tend.status(name)
    is_running = running(before_status)

    # ---------------------------------------------------------------- install
    if spec is not None:
        args = ["install", "--json", "--name=%s" % name]
        if p["backend"]:
            args.append("--backend=%s" % p["backend"])
        if p["profile"]:
            args.append("--profile=%s" % p["profile"])
        if state in ("started", "restarted"):
            args.append("--now")
        if p["restart_on_change"] and state in ("started", "present"):
            args.append("--restart")
        if check or want_diff:
            # The dry run decides started/restarted as the install would (--now, --restart).
            preview = tend.json(args + ["--dry-run"] + (["--source=%s" % source] if source else []) + ["--", spec])
            if want_diff:
                befores = dict((f["path"], read_text(f["path"])) for f in preview.get("files", []))
                diffs.extend(file_diffs(befores, preview))
        if check:
            outcome = preview
        else:
            args += ["--", spec]
            outcome = tend.json(args)
        result["install"] = outcome if want_diff else without_content(outcome)
        if outcome.get("changed"):
            result["changed"] = True
            if not check:
                tend.did(args)
        if outcome.get("started"):
            is_running = True
        result["restart_pending"] = bool(outcome.get("restart_pending"))
    elif before_status is None:
        module.fail_json(msg="`%s` is not installed: give spec or spec_content to install it" % name)

    # ---------------------------------------------------------------- start / stop / restart
    if state == "started" and not is_running:
        result["changed"] = True
        if not check:
            tend.run(["start", "--", name])
            tend.did(["start", "--", name])
    elif state == "stopped" and is_running:
        result["changed"] = True
        if not check:
            tend.run(["stop", "--", name])
            tend.did(["stop", "--", name])
    elif state == "restarted":
        result["changed"] = True
        if not check:
            tend.run(["restart", "--", name])
            tend.did(["restart", "--", name])

    # ---------------------------------------------------------------- upgrade
    if p["upgrade"]:
        args = ["upgrade", "--json"]
        if p["signature"]:
            args.append("--signature=%s" % p["signature"])
        now = tend.status(name) or {}
        before_release = (now.get("releases") or {}).get("current")
        if check:
            args.append("--dry-run")
        args += ["--", name, p["upgrade"]]
        rc, out, err = tend.run(args, check_rc=False)
        try:
            outcome = json.loads(out)
        except ValueError:
            outcome = {"ok": False, "message": err.strip() or out.strip()}
        result["upgrade"] = outcome
        if rc != 0 or not outcome.get("ok", False):
            module.fail_json(msg="tend upgrade %s: %s" % (name, outcome.get("message", "failed")), stderr=err, **result)
        if check:
            # tend's dry run says "... already: nothing to do" when the release is current.
            changed = not outcome.get("message", "").endswith("nothing to do")
        else:
            changed = outcome.get("release") != before_release
        if changed:
            result["changed"] = True
            if not check:
                tend.did(args)

    result["status"] = before_status if check else tend.status(name)
    if want_diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
