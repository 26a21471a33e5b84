# Sourced by the scripts: makes .venv hold scripts/requirements-test.txt and the
# requirements-deploy.txt it includes (idempotently: a stamp records what was installed),
# and puts its bin first on PATH, where cargo-lambda looks for zig through `python3`.
hookpost_venv() {
    local root venv stamp want
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    venv="$root/.venv"
    stamp="$venv/.hookpost-requirements"
    want="$(cat "$root/scripts/requirements-test.txt" "$root/scripts/requirements-deploy.txt" | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python3" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing test tools into .venv (moto, cfn-lint, aws-sam-cli, cargo-lambda, ziglang, schemathesis, ...)"
        python3 -m venv "$venv"
        "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$root/scripts/requirements-test.txt"
        echo "$want" > "$stamp"
    fi
    export PATH="$venv/bin:$PATH"
    # The SAM CLI sends usage telemetry unless told not to; tests talk to 127.0.0.1 only.
    export SAM_CLI_TELEMETRY=0
}
hookpost_venv
