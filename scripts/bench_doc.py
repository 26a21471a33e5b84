#!/usr/bin/env python3
"""Writes docs/BENCHMARKS.md's figures from one scripts/bench run.

    python3 scripts/bench_doc.py [--run target/bench] [--doc docs/BENCHMARKS.md] [--out PATH] [--quick]

The document's prose is written by hand; its figures are not. Each generated region is
fenced by HTML comments the renderer keeps:

    <!-- bench:ID -->
    ...replaced on every run...
    <!-- /bench:ID -->

and filled from the run in `--run` (what scripts/bench wrote there):

- `run`: the run's own header (commit, start and end, machine, command), from report.md;
- `targets`: the table of targets, every figure and ratio computed here from the JSON the
  benchmarks wrote to figures/ in the same run;
- any other ID: the section of report.md that scripts/bench marked `<!-- section:ID -->`,
  as the benchmark printed it.

It fails — so that neither the document nor this script can rot — when the document has a
region the run did not fill, the run has a section the document has no region for, or a
target's figure is missing. `--quick` (CI: scripts/bench --quick) renders to `--out` only and
lets the sections only the full run makes be absent: the numbers of a quick run mean nothing.
"""

import argparse
import json
import re
import sys
from pathlib import Path

# Sections only the full run makes (clean builds, generated input at ten million cases).
FULL_ONLY = {"build", "generated-input"}

REGION = re.compile(r"(<!-- bench:([a-z0-9-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.S)
SECTION = re.compile(r"^<!-- section:([a-z0-9-]+) -->$", re.M)


class Missing(Exception):
    """A figure a target needs is not in the run."""


def read_run(run):
    """The report's header lines, its sections by id, and every figures file by name."""
    report = (run / "report.md").read_text()
    first = SECTION.search(report)
    header = report[: first.start()] if first else report
    # The header's bullets; the section heading that precedes the first marker is not part of it.
    header_lines = [line for line in header.splitlines() if line.startswith("- ")]
    finished = re.findall(r"^- finished: .*$", report, re.M)
    header_lines += [line for line in finished if line not in header_lines]
    sections = {}
    marks = list(SECTION.finditer(report))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(report)
        body = report[mark.end(): end]
        # Drop the next section's heading and the run's closing line from this body.
        body = re.sub(r"\n## [^\n]*\n*$", "\n", body.rstrip() + "\n")
        body = re.sub(r"^- finished: .*$", "", body, flags=re.M)
        sections[mark.group(1)] = body.strip() + "\n"
    figures = {}
    for path in sorted((run / "figures").glob("*.json")):
        figures[path.stem] = json.loads(path.read_text())
    return header_lines, sections, figures


def get(figures, bench, name):
    try:
        return figures[bench][name]
    except KeyError:
        raise Missing(f"{bench}.{name}") from None


def pct(x):
    return f"{100 * x:.0f} %"


def verdict(ok):
    return "met" if ok else "**missed**"


UNITS_US = {"ps": 1e-6, "ns": 0.001, "µs": 1.0, "us": 1.0, "ms": 1000.0, "s": 1e6}
CRITERION_NOISE = ("Benchmarking", "Found", "Warning", "Gnuplot", "Running", "Compiling", "Finished", "change:",
                   "Performance", "No change", "Change within")


def criterion_table(output):
    """criterion's console output as a table: each benchmark's estimate and its 95 % interval."""
    rows, name = [], None
    for line in output.splitlines():
        if "time:" in line:
            before, _, after = line.partition("time:")
            name = before.strip() or name
            values = re.findall(r"([\d.]+) ([^\s\]]+)", after)
            if name and len(values) == 3:
                (low, unit_low), (mid, unit), (high, unit_high) = values
                rows.append(f"| {name} | {mid} {unit} | {low} {unit_low} – {high} {unit_high} |")
        elif line and not line[0].isspace() and not line.startswith(CRITERION_NOISE):
            name = line.strip()
    head = "| benchmark | time | 95 % interval |\n|---|---|---|\n"
    return head + "\n".join(rows) + "\n" if rows else output


def handler_cost_us(sections):
    """criterion's estimate for the GET handler as Lambda runs it, in µs, from the handler section."""
    text = sections.get("handler", "")
    match = re.search(r"^\| [^|]*handler \(caller[^|]*\| ([\d.]+) (\S+) \|", text, re.M)
    if not match:
        return None
    return float(match.group(1)) * UNITS_US.get(match.group(2), float("nan"))


def targets(figures, sections, quick):
    """The table of targets, every cell from this run."""
    rows = []

    def row(figure, target, measured, ok):
        rows.append(f"| {figure} | {target} | {measured} | {verdict(ok)} |")

    raw = get(figures, "delivery", "raw_per_second")
    for subs in (1, 10):
        for kind, label in (("batch", "batch publish (100 events a request)"), ("single", "one event a request")):
            share = get(figures, "delivery", f"{kind}_{subs}_share")
            rate = get(figures, "delivery", f"{kind}_{subs}_per_second")
            row(f"delivery throughput, {subs} subscription{'s' if subs > 1 else ''} per event, {label}, share of the "
                "raw sink rate", "≥ 50 %", f"{pct(share)} ({rate:,.0f} deliveries/s; raw sink {raw:,.0f} requests/s)",
                share >= 0.5)
    for subs in (1, 10):
        p99 = get(figures, "delivery", f"p99_ms_{subs}")
        row(f"p99 publish → received at 1,000 deliveries/s, {subs} subscription{'s' if subs > 1 else ''} per event",
            "< 50 ms", f"{p99:.1f} ms", p99 < 50)
    for subs in (1, 10):
        key = f"batch_{subs}_against_baseline"
        if key in figures.get("delivery", {}):
            ratio = figures["delivery"][key]
            row(f"delivery, {subs} subscription{'s' if subs > 1 else ''} per event, against the baseline build "
                "(`--baseline-bin`, alternating)", "≥ 90 % of its rate", pct(ratio), ratio >= 0.9)
    rounds = figures.get("api", {}).get("rounds", 1)
    for key, name in (("get_subscription", "GET subscription"), ("list_subscriptions", "list subscriptions (6)"),
                      ("get_failure", "GET failure")):
        share = get(figures, "api", f"{key}_share")
        rate = get(figures, "api", f"{key}_per_second")
        raw_rate = get(figures, "api", f"{key}_raw_per_second")
        row(f"API, {name}, share of the raw rate (median of {rounds})", "≥ 65 %",
            f"{pct(share)} ({rate:,.0f} req/s; raw {raw_rate:,.0f})", share >= 0.65)
        if f"{key}_against_baseline" in figures["api"]:
            ratio = figures["api"][f"{key}_against_baseline"]
            row(f"API, {name}, against the baseline build (`--baseline-bin`, alternating)", "≥ 90 % of its rate",
                pct(ratio), ratio >= 0.9)
    cost = handler_cost_us(sections)
    if cost is not None:
        row("handler cost, GET subscription, memory store (criterion)", "< 20 µs", f"{cost:.1f} µs", cost < 20)
    elif not quick:
        raise Missing("handler: criterion's time for the GET handler")
    zips = get(figures, "startup", "zip_mb")
    within = sorted(name for name, mb in zips.items() if mb <= 3.0)
    largest = max(zips, key=zips.get)
    row("Lambda zip, every function", "≤ 3 MB",
        f"{len(within)} of {len(zips)} within; largest {largest} {zips[largest]:.2f} MB "
        "(`scripts/check-lambda` allows 3.2 MB to those that open sealed secrets, 4 MB to those that validate "
        "schemas, on condition of their start-up)", len(within) == len(zips))
    slowest_median = get(figures, "startup", "slowest_median_ms")
    row(f"Lambda start → first runtime-API poll ({get(figures, 'startup', 'runs')} starts each)", "≤ 20 ms",
        f"median {get(figures, 'startup', 'median_ms'):.1f} ms, slowest median {slowest_median:.1f} ms, "
        f"slowest start {get(figures, 'startup', 'slowest_ms'):.1f} ms", slowest_median <= 20)
    for target in get(figures, "dynamo", "targets"):
        row(f"DynamoDB calls: {target['operation']}", f"≤ {target['target']}", str(target["calls"]),
            target["calls"] <= target["target"])
    total = get(figures, "workload", "all_in_per_million")
    eventbridge = get(figures, "workload", "eventbridge_per_million")
    with_data_out = get(figures, "workload", "eventbridge_with_data_out_per_million")
    row(f"dollars per million deliveries, all in, realistic workload ({get(figures, 'workload', 'accounts'):,} "
        f"accounts, Zipf, {get(figures, 'workload', 'subscriptions_per_event'):.2f} subscriptions an event, 3 % "
        "failing, 1 KiB, batch + ingest)",
        f"under EventBridge API destinations for the same workload: ${eventbridge:.2f} (${with_data_out:.2f} with "
        "data out)",
        f"${total:.2f} (${get(figures, 'workload', 'all_in_without_pitr_per_million'):.2f} without point-in-time "
        "recovery)", total < eventbridge)
    soaks = {name: values for name, values in figures.items() if name.startswith("soak-")}
    if not soaks:
        raise Missing("soak: no durability run")
    pairs = sum(s["pairs"] for s in soaks.values())
    lost = sum(s["lost"] for s in soaks.values())
    kills = sum(s["kills"] for s in soaks.values())
    verified = sum(s["signatures_verified"] for s in soaks.values())
    row(f"accepted deliveries lost ({len(soaks)} soak run{'s' if len(soaks) > 1 else ''}, {kills} kill -9s)", "0",
        f"{lost} of {pairs:,} pairs; {verified:,} signatures verified by standardwebhooks", lost == 0)
    build = figures.get("build")
    if build:
        row("clean `cargo build -p hookpost-local`", "≤ 4 min", f"{build['debug_seconds']} s",
            build["debug_seconds"] <= 240)
        row(f"release build of all {build['functions']} functions (clean)", "≤ 10 min",
            f"{build['lambda_seconds']} s", build["lambda_seconds"] <= 600)
    elif not quick:
        raise Missing("build: clean build times")
    head = "| figure | target | measured | |\n|---|---|---|---|\n"
    return head + "\n".join(rows) + "\n"


def render(doc, header_lines, sections, figures, quick):
    filled, problems = set(), []

    def fill(match):
        opening, ident, _, closing = match.group(1), match.group(2), match.group(3), match.group(4)
        filled.add(ident)
        if ident == "run":
            body = "\n".join(header_lines) + "\n"
        elif ident == "targets":
            try:
                body = targets(figures, sections, quick)
            except Missing as missing:
                problems.append(f"a target's figure is missing from the run: {missing}")
                body = ""
        elif ident in sections:
            body = sections[ident]
        elif quick and ident in FULL_ONLY:
            body = "(made by the full run only)\n"
        else:
            problems.append(f"the document's region {ident!r} has no section in the run")
            body = ""
        return opening + "\n" + body + "\n" + closing

    text = REGION.sub(fill, doc)
    for ident in ("run", "targets"):
        if ident not in filled:
            problems.append(f"the document has no region {ident!r}")
    for ident in sections:
        if ident not in filled:
            problems.append(f"the run's section {ident!r} has no region in the document")
    return text, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="target/bench", type=Path)
    parser.add_argument("--doc", default="docs/BENCHMARKS.md", type=Path)
    parser.add_argument("--out", type=Path, help="where to write (default: the document itself)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--criterion", action="store_true",
                        help="turn criterion's output on stdin into a table on stdout (scripts/bench)")
    args = parser.parse_args()
    if args.criterion:
        sys.stdout.write(criterion_table(sys.stdin.read()))
        return
    header_lines, sections, figures = read_run(args.run)
    text, problems = render(args.doc.read_text(), header_lines, sections, figures, args.quick)
    if problems:
        for problem in problems:
            print(f"bench_doc: {problem}", file=sys.stderr)
        sys.exit(1)
    out = args.out or args.doc
    out.write_text(text)
    print(f"==> {out}: {len(sections)} sections and the targets from the run in {args.run}")


if __name__ == "__main__":
    main()
