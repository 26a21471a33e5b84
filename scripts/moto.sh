# Sourced by scripts/test and scripts/bench: starts moto (serialized backend, see
# scripts/moto_server.py) on a free loopback port, stops it on exit, and exports
# HOOKPOST_TEST_DYNAMODB_ENDPOINT. Needs scripts/venv.sh sourced first.
hookpost_start_moto() {
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p target
    python3 scripts/moto_server.py 127.0.0.1 "$port" > target/moto.log 2>&1 &
    moto_pid=$!
    trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
            break
        fi
        kill -0 "$moto_pid" 2>/dev/null || { cat target/moto.log; echo "moto did not start"; exit 1; }
        sleep 0.2
    done
    echo "==> moto on 127.0.0.1:$port"
    export HOOKPOST_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}
