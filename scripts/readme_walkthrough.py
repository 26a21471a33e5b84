"""The README's walk-through, run verbatim (scripts/test runs it, so the README cannot rot).

Every ```sh block of the "Walk-through" section runs, in order, in one bash session with
`set -euo pipefail`, from the repository's root, exactly as a reader pastes it. A line
`# => <answer>` after some commands says what they print: their output must match it, where
`…` stands for anything. Any failing command, or any answer that differs, fails the run.

Safety: the session runs with HOOKPOST_RESOLVE='*=192.0.2.1', so a subscription to a name
(crm.example.com) is refused by the destination guard without a DNS lookup or a dial; the
walk-through's own receivers are on 127.0.0.1. Everything it starts is stopped at the end.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## Walk-through"
PORTS = (3000, 8088, 8089)
TIMEOUT_SECS = 600


def blocks(readme):
    """The ```sh blocks of the walk-through section, in order."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
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
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    busy = [p for p in PORTS if not port_is_free(p)]
    if busy:
        sys.exit(f"README walk-through: ports {busy} are in use; it needs {PORTS} free")
    steps = [c for block in blocks(readme) for c in chunks(block)]
    if not steps:
        sys.exit("README walk-through: no ```sh blocks found under " + SECTION)
    out_dir = tempfile.mkdtemp(prefix="readme-walkthrough-")
    script = ["set -euo pipefail", f"cd {ROOT}", "step=0", 'trap \'echo "README walk-through: step $step failed" >&2\' ERR']
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
            sys.exit(f"README walk-through: still running after {TIMEOUT_SECS} s; outputs in {out_dir}")
        sys.exit(f"README walk-through: a command failed (exit {status}); outputs in {out_dir}")
    checked = 0
    for i, (commands, expected) in enumerate(steps):
        if expected is None:
            continue
        with open(f"{out_dir}/{i + 1}.out", encoding="utf-8", errors="replace") as f:
            actual = f.read().strip()
        if not matches(actual, expected.strip()):
            sys.exit(
                "README walk-through: an answer differs from the README\n"
                f"after:\n{commands}\nREADME says:\n  {expected}\nprinted:\n  {actual}"
            )
        checked += 1
    print(f"README walk-through: {len(steps)} steps run verbatim, {checked} answers as documented")


if __name__ == "__main__":
    main()
