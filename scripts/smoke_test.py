"""A deployed hookpost answers as the SPEC says: the pipeline's check after each deploy.

Against a stack (its `ApiUrl` output), the operator calls are SigV4-signed with the
credentials the environment provides (the pipeline's OIDC role); against hookpost-local they
carry its admin key. Either way it:

1. refuses a call without a token (401, the SPEC envelope — API Gateway's own answer),
2. creates an account and a short-lived token (operator routes),
3. reads the account through the token (`GET /api/v1/me`, through the authorizer),
4. answers a route's wrong method with 405 and `Allow`, an unknown route with 404,
5. creates a subscription to a URL the destination guard must refuse (a private address),
6. publishes an event (202) and revokes the token.

It leaves one account named `smoke-test <time>` behind per run (accounts cannot be deleted
through the API); nothing is ever delivered anywhere.

Usage: python3 scripts/smoke_test.py https://abc.execute-api.eu-west-1.amazonaws.com/v1
       python3 scripts/smoke_test.py http://127.0.0.1:3000 --admin-key KEY
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class Api:
    def __init__(self, base, admin_key=None, region=None):
        self.base = base.rstrip("/")
        self.admin_key = admin_key
        self.signer = None
        if admin_key is None:
            # Only the deployed path needs botocore (it comes with the SAM CLI and awscli).
            import botocore.session
            from botocore.auth import SigV4Auth

            session = botocore.session.get_session()
            credentials = session.get_credentials()
            if credentials is None:
                sys.exit("smoke test: no AWS credentials to sign the operator calls with")
            host = urllib.parse.urlparse(self.base).hostname
            region = region or host.split(".")[2]
            self.signer = SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region)

    def call(self, method, path, body=None, token=None, operator=False):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data else {}
        url = self.base + path
        if token:
            headers["authorization"] = f"Bearer {token}"
        if operator and self.admin_key:
            headers["authorization"] = f"Bearer {self.admin_key}"
        elif operator:
            from botocore.awsrequest import AWSRequest

            signed = AWSRequest(method=method, url=url, data=data, headers=headers)
            self.signer.add_auth(signed)
            headers = dict(signed.headers.items())
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as res:
                status, raw, allow = res.status, res.read(), res.headers.get("allow")
        except urllib.error.HTTPError as err:
            status, raw, allow = err.code, err.read(), err.headers.get("allow")
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload, allow


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("api_url", help="the stack's ApiUrl output, or hookpost-local's base URL")
    parser.add_argument("--admin-key", help="hookpost-local's HOOKPOST_ADMIN_KEY (no SigV4)")
    parser.add_argument("--region", help="for SigV4; read from the URL by default")
    args = parser.parse_args()
    api = Api(args.api_url, args.admin_key, args.region)
    checks = []

    def expect(what, answer, status, error=None):
        got, payload, _ = answer
        ok = got == status and (error is None or (isinstance(payload, dict) and payload.get("error") == error))
        checks.append(ok)
        print(f"{'ok ' if ok else 'FAIL'} {what}: {got} {json.dumps(payload)[:120]}")
        if not ok:
            sys.exit(f"smoke test failed: {what}: expected {status}{' ' + error if error else ''}")
        return payload

    expect("no token", api.call("GET", "/api/v1/me"), 401, "unauthorized")
    account = expect("create an account (operator)", api.call(
        "POST", "/internal/v1/accounts", {"name": f"smoke-test {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
                                          "plan": "starter"}, operator=True), 201)
    token = expect("issue a token (operator)", api.call(
        "POST", f"/internal/v1/accounts/{account['id']}/tokens",
        {"scopes": ["tasks.webhooks.read", "tasks.webhooks.manage"], "expires_in_days": 1}, operator=True), 201)
    me = expect("the token reads its account", api.call("GET", "/api/v1/me", token=token["token"]), 200)
    if me.get("account_id") != account["id"]:
        sys.exit(f"smoke test failed: /api/v1/me answered another account: {me}")
    status, payload, allow = api.call("PUT", "/api/v1/me", {}, token=token["token"])
    expect("a method the route does not take", (status, payload, allow), 405, "method_not_allowed")
    if allow != "GET":
        sys.exit(f"smoke test failed: 405 without Allow: GET (got {allow!r})")
    expect("an unknown route", api.call("GET", "/api/v1/nothing-here", token=token["token"]), 404, "not_found")
    expect("a subscription to a private address is refused", api.call(
        "POST", "/api/v1/webhook-subscriptions", {"url": "https://10.0.0.1/hook"}, token=token["token"]),
        400, "invalid_url")
    expect("publish an event (operator)", api.call(
        "POST", "/internal/v1/events", {"account_id": account["id"], "event": "smoke.test", "data": {}}, operator=True),
        202)
    expect("revoke the token (operator)", api.call(
        "DELETE", f"/internal/v1/accounts/{account['id']}/tokens/{token['id']}", operator=True), 204)
    print(f"smoke test passed: {len(checks)} checks against {args.api_url}")


if __name__ == "__main__":
    main()
