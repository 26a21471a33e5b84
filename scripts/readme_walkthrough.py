"""A README section, run verbatim (scripts/test runs the walk-through and "Local testing with
SAM", so the README cannot rot).

Every ```sh block of the section runs, in order, in one bash session with
`set -euo pipefail`, from the repository's root, exactly as a reader pastes it. A line
`# => <answer>` after some commands says what they print: their output must match it, where
`…` stands for anything. Any failing command, or any answer that differs, fails the run.

`sam local ...` on a machine without Docker: sam runs (it checks its options and files,
then stops at "requires a container runtime"), and scripts/sam_local_check.py then checks
the command against template.yaml; with Docker it simply runs. `--keep events` puts the
files the section rewrites back as they were, so a local run leaves the tree clean.

Safety: the session runs with HOOKPOST_RESOLVE='*=192.0.2.1', so a subscription to a name
(crm.example.com) is refused by the destination guard without a DNS lookup or a dial; the
walk-through's own receivers are on 127.0.0.1. Everything it starts is stopped at the end.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_SECS = 900
# Defined in the session: `sam local` without a container runtime is checked, not run.
SAM_WITHOUT_DOCKER = r"""
sam() {
    if [ "${1:-}" = local ] && ! docker info >/dev/null 2>&1; then
        local out
        if out="$(command sam "$@" 2>&1)"; then printf '%s\n' "$out"; return 0; fi
        if printf '%s' "$out" | grep -q "requires a container runtime"; then
            python3 scripts/sam_local_check.py "$@"
            return
        fi
        printf '%s\n' "$out" >&2
        return 1
    fi
    command sam "$@"
}
"""


def blocks(readme, heading):
    """The ```sh blocks of the section under `heading`, in order."""
    start = readme.index(heading + "\n")
    end = readme.find("\n## ", start + len(heading))
    section = readme[start : end if end >= 0 else len(readme)]
    found, current = [], None
    for line in section.splitlines():
        if current is None and line.strip() == "```sh":
            current = []
        elif current is not None and line.strip() == "```":
            found.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return found


def chunks(block):
    """(commands, expected answer or None): each `# =>` line closes the commands before it."""
    out, commands = [], []
    for line in block:
        if line.startswith("# => "):
            out.append(("\n".join(commands), line[len("# => ") :]))
            commands = []
        else:
            commands.append(line)
    if any(c.strip() for c in commands):
        out.append(("\n".join(commands), None))
    return out


def matches(actual, expected):
    """Whether `actual` is `expected` with each `…` standing for anything."""
    parts = expected.split("…")
    if len(parts) == 1:
        return actual == expected
    if not actual.startswith(parts[0]) or not actual.endswith(parts[-1]):
        return False
    at = len(parts[0])
    for part in parts[1:-1]:
        found = actual.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return at <= len(actual) - len(parts[-1])


def port_is_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def main():
    parser = argparse.ArgumentParser(description="Runs a README section's ```sh blocks verbatim")
    parser.add_argument("--section", default="## Walk-through (curl)", help="the section's heading line")
    parser.add_argument("--ports", default="3000,8088,8089", help="ports the section listens on (must be free)")
    parser.add_argument("--keep", action="append", default=[], help="a directory to restore afterwards")
    args = parser.parse_args()
    name = f"README ({args.section.lstrip('# ')})"
    ports = [int(p) for p in args.ports.split(",") if p]
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    busy = [p for p in ports if not port_is_free(p)]
    if busy:
        sys.exit(f"{name}: ports {busy} are in use; it needs {ports} free")
    steps = [c for block in blocks(readme, args.section) for c in chunks(block)]
    if not steps:
        sys.exit(f"{name}: no ```sh blocks found under {args.section}")
    out_dir = tempfile.mkdtemp(prefix="readme-section-")
    kept = {}
    for path in args.keep:
        kept[path] = os.path.join(out_dir, "kept", path)
        shutil.copytree(os.path.join(ROOT, path), kept[path])
    try:
        run(name, steps, out_dir)
    finally:
        for path, copy in kept.items():
            shutil.rmtree(os.path.join(ROOT, path))
            shutil.copytree(copy, os.path.join(ROOT, path))
    # Kept only when something failed (run exits first), to read; a pass leaves nothing behind.
    shutil.rmtree(out_dir, ignore_errors=True)


def run(name, steps, out_dir):
    script = ["set -euo pipefail", f"cd {ROOT}", SAM_WITHOUT_DOCKER, "step=0",
              f'trap \'echo "{name}: step $step failed" >&2\' ERR']
    for i, (commands, _) in enumerate(steps):
        script.append(f"step={i + 1}")
        script.append("{")
        script.append(commands)
        script.append(f"}} > {out_dir}/{i + 1}.out")
    env = dict(os.environ, HOOKPOST_RESOLVE="*=192.0.2.1")
    env.pop("HOOKPOST_DYNAMODB_ENDPOINT", None)
    stderr = open(f"{out_dir}/stderr.log", "w")
    session = subprocess.Popen(["bash", "-c", "\n".join(script)], env=env, stderr=stderr, start_new_session=True)
    try:
        status = session.wait(timeout=TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        status = None
    finally:
        # What the walk-through left running (hookpost-local, the receivers) stops here.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(session.pid, sig)
            except ProcessLookupError:
                break
            if sig == signal.SIGTERM:
                try:
                    session.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
    stderr.close()
    if status != 0:
        with open(f"{out_dir}/stderr.log", encoding="utf-8", errors="replace") as f:
            sys.stderr.write(f.read()[-4000:])
        if status is None:
            sys.exit(f"{name}: still running after {TIMEOUT_SECS} s; outputs in {out_dir}")
        sys.exit(f"{name}: a command failed (exit {status}); outputs in {out_dir}")
    checked = 0
    for i, (commands, expected) in enumerate(steps):
        if expected is None:
            continue
        with open(f"{out_dir}/{i + 1}.out", encoding="utf-8", errors="replace") as f:
            actual = f.read().strip()
        if not matches(actual, expected.strip()):
            sys.exit(
                f"{name}: an answer differs from the README\n"
                f"after:\n{commands}\nREADME says:\n  {expected}\nprinted:\n  {actual}"
            )
        checked += 1
    print(f"{name}: {len(steps)} steps run verbatim, {checked} answers as documented")


if __name__ == "__main__":
    main()
