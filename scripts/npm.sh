# Sourced by the scripts that need Node tools: npm itself (Debian's, when missing; CI runs
# as root) and package.json's packages in node_modules (npm ci, again only when
# package-lock.json changed).
hookpost_npm() {
    local root stamp want
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if ! command -v npm >/dev/null 2>&1; then
        echo "==> installing nodejs and npm (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    stamp="$root/node_modules/.hookpost-lock"
    want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing Node tools into node_modules (npm ci)"
        (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
}
hookpost_npm
