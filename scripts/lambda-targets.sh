# Sourced by scripts/check-lambda, scripts/bench and scripts/test-lambda-targets: which Rust
# target the Lambda artifacts are built for. `RUSTUP` and `UNAME` may name stand-ins (the
# test of both machine states does).

# The target this machine's CPU executes.
hookpost_native_target() {
    case "$(${UNAME:-uname} -m)" in
        x86_64 | amd64) echo x86_64-unknown-linux-gnu ;;
        aarch64 | arm64) echo aarch64-unknown-linux-gnu ;;
        *) echo "unsupported-$(${UNAME:-uname} -m)" ;;
    esac
}

# What the size check measures: what `sam build` ships (arm64, template.yaml's default)
# wherever the aarch64 standard library is there to build it, else this machine's own.
hookpost_shipped_target() {
    if [ "$(hookpost_native_target)" = aarch64-unknown-linux-gnu ] \
        || ${RUSTUP:-rustup} target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
        echo aarch64-unknown-linux-gnu
    else
        hookpost_native_target
    fi
}

# `-p <function>` for every package under functions/.
hookpost_function_packages() {
    local dir
    for dir in functions/*/; do
        printf -- '-p %s ' "$(basename "$dir")"
    done
}

# A directory of Lambda zips this machine can execute: target/lambda when check-lambda built
# it for this machine, else target/lambda-native, built now (the shipped zips are arm64 on an
# x86-64 machine with the aarch64 standard library). Says which on stderr.
hookpost_runnable_lambda_dir() {
    local native shipped packages
    native="$(hookpost_native_target)"
    shipped="$(cat target/lambda/TARGET 2>/dev/null || echo 'an unknown target')"
    if [ "$shipped" = "$native" ]; then
        echo "running the zips scripts/check-lambda built ($native, target/lambda)" >&2
        echo target/lambda
        return
    fi
    echo "the zips in target/lambda are for $shipped; building $native ones to run (target/lambda-native)" >&2
    read -r -a packages <<< "$(hookpost_function_packages)"
    cargo lambda build --release --target "$native" --output-format zip --lambda-dir target/lambda-native \
        "${packages[@]}" >&2
    echo target/lambda-native
}
