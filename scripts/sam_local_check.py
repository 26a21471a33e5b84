"""Checks a `sam local invoke` or `sam local start-api` command against template.yaml, for
machines without a Docker daemon (CI among them), where sam itself stops at "requires a
container runtime" after checking its options and files.

What is checked here is what sam would use next: the function is one template.yaml declares;
the event file is JSON of the function's own trigger (an API Gateway REST proxy event for
one of its routes, an SQS batch, the scheduled event, the authorizer's REQUEST event); every
variable of --env-vars is one the template declares for the functions it names (sam local
silently drops any other); every --parameter-overrides value is allowed by its parameter.

Usage: python3 scripts/sam_local_check.py local invoke GetMeFunction -e events/get-me.json ...
Exit 0 when the command would run; otherwise it says what is wrong.
"""

import json
import re
import shlex
import sys

from cfn_template import Template


def fail(message):
    sys.exit(f"sam local (checked against template.yaml): {message}")


def options(argv):
    """(positional arguments, {option: [values]}) of a sam command line."""
    flags = {"--debug", "--skip-pull-image", "--warm-containers", "--beta-features", "--no-beta-features",
             "--skip-prepare-infra", "--disable-authorizer", "--no-memory-limit"}
    positional, found, i = [], {}, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            name, _, inline = arg.partition("=")
            if name in flags:
                found.setdefault(name, []).append(True)
            elif inline:
                found.setdefault(name, []).append(inline)
            else:
                i += 1
                if i >= len(argv):
                    fail(f"{name} needs a value")
                found.setdefault(name, []).append(argv[i])
        else:
            positional.append(arg)
        i += 1
    return positional, found


def check_parameters(template, values):
    for value in values:
        for pair in shlex.split(value):
            key, sep, val = pair.partition("=")
            if key.startswith("ParameterKey"):
                parts = dict(p.split("=", 1) for p in pair.split(","))
                key, val, sep = parts.get("ParameterKey"), parts.get("ParameterValue", ""), "="
            if not sep or key not in template.doc["Parameters"]:
                fail(f"--parameter-overrides: {pair!r} names no parameter of template.yaml")
            spec = template.doc["Parameters"][key]
            allowed = [str(a) for a in spec.get("AllowedValues", [])]
            if allowed and val not in allowed:
                fail(f"--parameter-overrides: {key} must be one of {allowed}, not {val!r}")
            pattern = spec.get("AllowedPattern")
            if pattern and not re.fullmatch(pattern, val):
                fail(f"--parameter-overrides: {key}={val!r} does not match {pattern}")


def check_env_vars(template, path, functions):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as err:
        fail(f"--env-vars {path}: {err}")
    declared_anywhere = template.declared_variables()
    logical_ids = {logical_id for logical_id, _ in template.functions()}
    for scope, variables in doc.items():
        if scope == "Parameters":
            unknown = set(variables) - declared_anywhere
        elif scope in logical_ids:
            unknown = set(variables) - set(template.variables(scope))
        else:
            fail(f"--env-vars {path}: {scope!r} is neither Parameters nor a function of template.yaml")
        if unknown:
            fail(f"--env-vars {path}: {sorted(unknown)} are not declared in template.yaml for {scope}, "
                 "so sam local would drop them")
    for logical_id in functions:
        if not set(doc.get("Parameters", {})) & set(template.variables(logical_id)) and logical_id not in doc:
            fail(f"--env-vars {path} sets nothing {logical_id} declares")


def route_matches(resource, path):
    r, p = resource.strip("/").split("/"), path.strip("/").split("/")
    return len(r) == len(p) and all(a == b or (a.startswith("{") and b) for a, b in zip(r, p))


def check_event(template, logical_id, path):
    try:
        with open(path) as f:
            event = json.load(f)
    except (OSError, ValueError) as err:
        fail(f"-e {path}: {err}")
    triggers = template.events(logical_id)
    authorizers = template.resources["Api"]["Properties"].get("Auth", {}).get("Authorizers", {})
    is_authorizer = any(a.get("FunctionArn") == {"Fn::GetAtt": [logical_id, "Arn"]} for a in authorizers.values())
    if is_authorizer:
        if event.get("type") != "REQUEST" or not event.get("methodArn") or "headers" not in event:
            fail(f"-e {path}: {logical_id} is the REQUEST authorizer; the event is not a REQUEST authorizer event")
        return
    for trigger in triggers:
        kind, props = trigger["Type"], trigger.get("Properties", {})
        if kind == "Api" and event.get("resource") == props["Path"] and route_matches(props["Path"], event.get("path", "")):
            if props["Method"].upper() in ("ANY", event.get("httpMethod")):
                return
        if kind == "SQS" and event.get("Records") and all(r.get("eventSource") == "aws:sqs" for r in event["Records"]):
            return
        if kind == "Schedule" and event.get("detail-type") == "Scheduled Event":
            return
    fail(f"-e {path} is not an event of {logical_id}'s triggers ({[t['Type'] for t in triggers]})")


def main(argv):
    template = Template()
    positional, found = options(argv)
    if positional[:2] not in (["local", "invoke"], ["local", "start-api"]):
        fail(f"only `sam local invoke` and `sam local start-api` are checked, not {' '.join(argv)}")
    logical_ids = [logical_id for logical_id, _ in template.functions()]
    functions = logical_ids
    if positional[1] == "invoke":
        if len(positional) != 3 or positional[2] not in logical_ids:
            fail(f"{positional[2:]} is not one function of template.yaml ({len(logical_ids)} declared)")
        functions = [positional[2]]
        events = found.get("-e", []) + found.get("--event", [])
        if len(events) != 1:
            fail("give the event with -e (a file)")
        check_event(template, positional[2], events[0])
    for path in found.get("--env-vars", []) + found.get("-n", []):
        check_env_vars(template, path, functions)
    check_parameters(template, found.get("--parameter-overrides", []))
    print(f"sam {' '.join(positional)}: checked against template.yaml (no container runtime here to run it)")


if __name__ == "__main__":
    main(sys.argv[1:])
