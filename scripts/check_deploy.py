"""The deployment pipeline's files agree with each other and with template.yaml:

- samconfig.toml: dev and prod deploy the stacks deploy/github-oidc.yaml's roles may touch
  (<StackNamePrefix>-dev, -prod), with CAPABILITY_IAM, every parameter override one the
  template allows; prod confirms its change sets; builds use the beta cargo-lambda builder.
- .github/workflows/deploy.yml: deploys with those config environments, assumes its role
  through OIDC (id-token: write, role-to-assume, no AWS key secrets), runs the smoke test
  against the stack it deployed, and gates prod behind the `prod` environment after dev.
- .github/workflows/test.yml runs .ci/run on pull requests, and cargo-deny's advisories.
- Every third-party action is pinned by its commit's full SHA: a tag can be moved to other
  code after review, a commit cannot.
"""

import glob
import re

import sys
import tomllib

import yaml

from cfn_template import ROOT, Template, load
from sam_local_check import check_parameters

problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def main():
    template = Template()
    with open(f"{ROOT}/samconfig.toml", "rb") as f:
        config = tomllib.load(f)
    oidc = load(f"{ROOT}/deploy/github-oidc.yaml")
    prefix = oidc["Parameters"]["StackNamePrefix"]["Default"]
    for env in ("dev", "prod"):
        deploy = config.get(env, {}).get("deploy", {}).get("parameters", {})
        check(deploy.get("stack_name") == f"{prefix}-{env}",
              f"samconfig.toml [{env}]: stack_name must be {prefix}-{env}, the stack the pipeline role may deploy")
        check("CAPABILITY_IAM" in deploy.get("capabilities", ""), f"samconfig.toml [{env}]: needs CAPABILITY_IAM")
        check(config.get(env, {}).get("global", {}).get("parameters", {}).get("beta_features") is True,
              f"samconfig.toml [{env}]: beta_features = true (the rust-cargolambda builder)")
        try:
            check_parameters(template, [deploy.get("parameter_overrides", "")])
        except SystemExit as err:
            problems.append(f"samconfig.toml [{env}]: {err}")
    check(config["prod"]["deploy"]["parameters"].get("confirm_changeset") is True,
          "samconfig.toml [prod]: confirm_changeset = true (a person deploying prod sees the change set first)")

    with open(f"{ROOT}/.github/workflows/deploy.yml") as f:
        text = f.read()
    workflow = yaml.safe_load(text)
    jobs = workflow["jobs"]
    check("aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text,
          "deploy.yml: no long-lived AWS keys; assume the OIDC role")
    for env in ("dev", "prod"):
        job = jobs.get(f"deploy-{env}", {})
        steps = job.get("steps", [])
        runs = " ".join(s.get("run", "") for s in steps)
        check(job.get("environment") == env, f"deploy.yml deploy-{env}: runs in the {env} environment")
        check(job.get("permissions", {}).get("id-token") == "write", f"deploy.yml deploy-{env}: id-token: write")
        check(any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
                  and "role-to-assume" in s.get("with", {}) for s in steps),
              f"deploy.yml deploy-{env}: configure-aws-credentials with role-to-assume")
        check(f"sam deploy --config-env {env}" in runs, f"deploy.yml deploy-{env}: sam deploy --config-env {env}")
        check(f"--stack-name {prefix}-{env}" in runs and "scripts/smoke_test.py" in runs,
              f"deploy.yml deploy-{env}: smoke test against {prefix}-{env}'s ApiUrl")
    check(jobs.get("deploy-prod", {}).get("needs") == "deploy-dev", "deploy.yml: prod deploys after dev")
    check(workflow[True if True in workflow else "on"]["push"]["branches"] == ["main"], "deploy.yml: on push to main")
    check("sam build" in " ".join(s.get("run", "") for s in jobs.get("build", {}).get("steps", [])),
          "deploy.yml build: sam build")

    with open(f"{ROOT}/.github/workflows/test.yml") as f:
        tests = yaml.safe_load(f)
    check("pull_request" in tests[True if True in tests else "on"], "test.yml: runs on pull requests")
    check(any(".ci/run" in s.get("run", "") for job in tests["jobs"].values() for s in job["steps"]),
          "test.yml: runs .ci/run")

    check(any("cargo-deny check advisories" in s.get("run", "") for job in tests["jobs"].values() for s in job["steps"]),
          "test.yml: runs cargo-deny check advisories (the advisory database needs the network .ci/run lacks)")

    for path in sorted(glob.glob(f"{ROOT}/.github/workflows/*.yml")):
        with open(path) as f:
            for number, line in enumerate(f, 1):
                used = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)", line)
                if used and not used.group(1).startswith("./"):
                    check(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", used.group(1)),
                          f"{path.removeprefix(ROOT + '/')}:{number}: {used.group(1)} is not pinned by a commit SHA")

    if problems:
        sys.exit("deployment files disagree:\n  " + "\n  ".join(problems))
    print("samconfig.toml, deploy/github-oidc.yaml and the workflows agree with template.yaml")


if __name__ == "__main__":
    main()
