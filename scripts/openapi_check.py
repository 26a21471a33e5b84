"""docs/openapi.yaml against a running hookpost-local: schemathesis with every check, then
a client generated from the document driving the main flows. Run by scripts/check-openapi.

Two servers: a strict one for the fuzzer (https only, the default guard, every name
answered with 192.0.2.1 so nothing is ever resolved or dialled), and one that lets loopback
receivers in for the client's flow (a delivery, a failure, a retrigger).
"""

import argparse
import datetime
import http.server
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_KEY = "hp_admin_openapi_check_0123456789abcdef"
# Every name answers an address the destination guard refuses: no DNS, no dial.
NO_DNS = "*=192.0.2.1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Local:
    """hookpost-local on a free port, stopped on exit."""

    def __init__(self, binary, log, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = dict(os.environ)
        full_env.update(
            HOOKPOST_ADDR=f"127.0.0.1:{self.port}",
            HOOKPOST_ADMIN_KEY=ADMIN_KEY,
            HOOKPOST_RATE_LIMIT_PER_MINUTE="1000000000",
            HOOKPOST_RESOLVE=NO_DNS,
            RUST_LOG="warn",
        )
        full_env.pop("HOOKPOST_DYNAMODB_ENDPOINT", None)
        full_env.update(env)
        self.log = open(log, "w")
        self.process = subprocess.Popen([binary], env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"hookpost-local exited: see {log}")
                time.sleep(0.1)
        raise SystemExit("hookpost-local did not start")

    def call(self, method, path, token, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as res:
            return json.load(res)

    def customer(self):
        account = self.call("POST", "/internal/v1/accounts", ADMIN_KEY, {"name": "Checks", "plan": "pro"})
        scopes = {"scopes": ["tasks.webhooks.read", "tasks.webhooks.manage"]}
        token = self.call("POST", f"/internal/v1/accounts/{account['id']}/tokens", ADMIN_KEY, scopes)
        return account["id"], token["token"]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def seed_data(local):
    """Real ids for the fuzzer to mix into what it generates: a channel, a subscription whose
    receiver the guard refuses (its name answers 192.0.2.1: nothing is dialled), and the
    failure record its first event leaves."""
    account, token = local.customer()
    local.call("POST", f"/internal/v1/accounts/{account}/channels", ADMIN_KEY, {"channel_id": "dom_1", "channel_type": "domain"})
    sub = local.call("POST", "/api/v1/webhook-subscriptions", token, {"url": "https://receiver.example.com/hooks"})
    local.call("POST", "/internal/v1/events", ADMIN_KEY, {"account_id": account, "event": "call.ended", "data": {}})
    failures = eventually(
        lambda: local.call("GET", "/api/v4/tasks/webhook_failures", token)["webhook_failures"], "the seeded failure"
    )
    # The operator routes get an account of their own: a plan the fuzzer sets there must not
    # take the customer's account (and so every customer route) to the free plan.
    operated, _ = local.customer()
    return {"account": operated, "token": token, "subscription": sub["id"], "failure": failures[0]["id"]}


def fuzz(binary, out, examples, seed):
    """schemathesis, every check; its exit status says whether it found anything."""
    local = Local(binary, os.path.join(out, "schemathesis-hookpost-local.log"), HOOKPOST_RETRY_SCHEDULE="0")
    try:
        data = seed_data(local)
        workdir = tempfile.mkdtemp()
        with open(os.path.join(workdir, "schemathesis.toml"), "w") as config:
            config.write(
                f"""[auth.openapi.pat]
bearer = "{data['token']}"

[auth.openapi.operator]
bearer = "{ADMIN_KEY}"

# Ids that exist, mixed into the generated ones, so that cases reach past the 404s.
[dictionaries.accounts]
values = ["{data['account']}"]
[dictionaries.subscriptions]
values = ["{data['subscription']}"]
[dictionaries.failures]
values = ["{data['failure']}"]
[dictionaries.channels]
values = ["dom_1"]

[[operations]]
include-path-regex = "^/api/v1/webhook-subscriptions/"
parameters = {{ "path.id" = {{ dictionary = "subscriptions", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/internal/v1/accounts/"
parameters = {{ "path.id" = {{ dictionary = "accounts", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/api/v4/tasks/webhook_failures/[{{]"
parameters = {{ "path.webhook_failure_id" = {{ dictionary = "failures", probability = 0.5 }} }}

[[operations]]
include-operation-id = "publishEvent"
parameters = {{ "body.account_id" = {{ dictionary = "accounts", probability = 0.5 }} }}
# An event whose type the fuzzer itself declared in the catalogue must follow that type's
# schema (400 validation_error, SPEC section 11): no document can state which types exist.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404"]

# A JSON Schema or an EventBridge pattern is an object the document can only describe as
# one: its grammar (and an example that must validate) is checked by hookpost (400).
[[operations]]
include-operation-id = "putEventType"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401"]

[[operations]]
include-operation-id = "testEventFilter"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "429"]

# The one rule no schema can state: a channel_id must be a channel the operator registered
# on the caller's account (400 invalid_channel_id otherwise, SPEC section 3).
[[operations]]
include-operation-id = "createWebhookSubscription"
parameters = {{ "body.channel_id" = {{ dictionary = "channels", probability = 0.5 }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# Nor this one: two header names that differ only in letter case are one HTTP header, so
# an object naming both is refused (400 validation_error, SPEC section 3). Create's block
# above already expects a 400.
[[operations]]
include-operation-id = "updateWebhookSubscription"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]
"""
            )
        command = [
            os.path.join(os.path.dirname(sys.executable), "schemathesis"),
            "run",
            os.path.join(ROOT, "docs/openapi.yaml"),
            "--url",
            local.url,
            "--checks",
            "all",
            "--max-examples",
            str(examples),
            "--seed",
            str(seed),
            "--no-color",
        ]
        print("==> schemathesis, every check, " + str(examples) + " examples per operation, seed " + str(seed), flush=True)
        status = subprocess.call(command, cwd=workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        return status
    finally:
        local.stop()


class Receivers:
    """Webhook receivers on loopback: /ok answers 204, /down 500; notes webhook-ids."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                seen.append((self.path, self.headers.get("webhook-id")))
                self.send_response(204 if self.path.startswith("/ok") else 500)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, path, webhook_id, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (path, webhook_id) in self.seen:
                return
            time.sleep(0.05)
        raise AssertionError(f"{webhook_id} never reached {path}: {self.seen}")


def eventually(check, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened")


def client_flow(binary, out):
    """A client generated from the document, used as a team and its customer would."""
    generated = os.path.join(out, "openapi-client")
    shutil.rmtree(generated, ignore_errors=True)
    print("==> openapi-python-client generate", flush=True)
    subprocess.check_call(
        [
            os.path.join(os.path.dirname(sys.executable), "openapi-python-client"),
            "generate",
            "--path",
            os.path.join(ROOT, "docs/openapi.yaml"),
            "--meta",
            "none",
            "--config",
            os.path.join(ROOT, "scripts/openapi-client.yaml"),
            "--output-path",
            os.path.join(generated, "hookpost_client"),
        ],
        stdout=subprocess.DEVNULL,
    )
    sys.path.insert(0, generated)
    hc = importlib.import_module("hookpost_client")
    api = importlib.import_module("hookpost_client.api.default")
    models = importlib.import_module("hookpost_client.models")
    mod = lambda name: importlib.import_module(f"hookpost_client.api.default.{name}")  # noqa: E731

    receivers = Receivers()
    local = Local(
        binary,
        os.path.join(out, "client-flow-hookpost-local.log"),
        HOOKPOST_ALLOW_HTTP="true",
        HOOKPOST_ALLOW_CIDRS="127.0.0.0/8",
        HOOKPOST_RETRY_SCHEDULE="0",
    )
    try:
        print("==> the generated client drives the main flows", flush=True)
        operator = hc.AuthenticatedClient(base_url=local.url, token=ADMIN_KEY)
        account = mod("create_account").sync(
            client=operator, body=models.CreateAccountBody(name="Generated", plan=models.Plan.PRO)
        )
        assert isinstance(account, models.Account), account
        channel = mod("create_channel").sync(
            client=operator,
            id=account.id,
            body=models.Channel(channel_id="dom_1", channel_type=models.ChannelType.DOMAIN),
        )
        assert isinstance(channel, models.Channel), channel
        token = mod("issue_token").sync(
            client=operator,
            id=account.id,
            body=models.IssueTokenBody(scopes=[models.Scope.TASKS_WEBHOOKS_READ, models.Scope.TASKS_WEBHOOKS_MANAGE], user_id="u_1"),
        )
        customer = hc.AuthenticatedClient(base_url=local.url, token=token.token)

        me = mod("get_me").sync(client=customer)
        assert (me.plan_name, me.plan_tier_index) == (models.Plan.PRO, 2), me

        # A subscription on a channel, with a header and bearer authentication.
        created = mod("create_webhook_subscription").sync(
            client=customer,
            body=models.SubscriptionCreate(
                url=f"{receivers.base}/ok/a",
                name="CRM",
                events=["call.ended"],
                channel_id="dom_1",
                headers=models.Headers.from_dict({"x-team": "crm"}),
                authentication=models.AuthenticationBearer(method="bearer", token="t0k"),
            ),
        )
        assert isinstance(created, models.SubscriptionWithSecret), created
        assert created.secret.startswith("whsec_") and created.channel_type == models.ChannelType.DOMAIN
        plain = mod("create_webhook_subscription").sync(
            client=customer, body=models.SubscriptionCreate(url=f"{receivers.base}/down/b")
        )
        assert plain.channel_type is None and plain.disabled_reason is None and plain.last_error is None

        listed = mod("list_webhook_subscriptions").sync(client=customer, limit=10, is_active=True)
        assert listed.pagination.total == 2 and {s.id for s in listed.subscriptions} == {created.id, plain.id}
        one = mod("get_webhook_subscription").sync(client=customer, id=created.id)
        assert one.name == "CRM" and not hasattr(one, "secret")
        renamed = mod("update_webhook_subscription").sync(
            client=customer, id=created.id, body=models.SubscriptionPatch(name="CRM v2")
        )
        assert renamed.name == "CRM v2"
        rotated = mod("rotate_webhook_subscription_secret").sync(client=customer, id=created.id)
        assert rotated.secret != created.secret and rotated.secret_prefix == rotated.secret[:12]
        tested = mod("test_webhook_subscription").sync(client=customer, id=created.id)
        assert tested.success and tested.status_code == 204 and tested.reason is None, tested

        # An event on the channel: delivered to the first; the second one's receiver fails.
        published = mod("publish_event").sync(
            client=operator,
            body=models.PublishEventBody(
                account_id=account.id,
                event="call.ended",
                channel_id="dom_1",
                event_id="evt_generated_1",
                data=models.PublishEventBodyData.from_dict({"call_id": 42}),
            ),
        )
        # Both match: the first by type and channel, the second takes every event.
        assert (published.event_id, published.subscriptions) == ("evt_generated_1", 2), published
        receivers.wait_for("/ok/a", "evt_generated_1")
        attempts = eventually(
            lambda: mod("list_webhook_subscription_attempts").sync(client=customer, id=created.id).attempts,
            "the attempt log",
        )
        assert any(a.event_id == "evt_generated_1" and a.status_code == 204 for a in attempts), attempts

        published = mod("publish_event").sync(
            client=operator,
            body=models.PublishEventBody(
                account_id=account.id, event="call.ended", data=models.PublishEventBodyData.from_dict({"n": 2})
            ),
        )
        receivers.wait_for("/down/b", published.event_id)
        since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        failures = eventually(
            lambda: mod("list_webhook_failures").sync(client=customer, created_atgte=since).webhook_failures,
            "the failure record",
        )
        failure = failures[0]
        assert failure.reason == "http_status: 500" and failure.webhook.id == plain.id, failure
        none = mod("list_webhook_failures").sync(client=customer, created_atlt=since)
        assert none.metadata.total == 0, none

        # The customer fixes the URL and retriggers: resolved.
        mod("update_webhook_subscription").sync(
            client=customer, id=plain.id, body=models.SubscriptionPatch(url=f"{receivers.base}/ok/b")
        )
        pending = mod("retrigger_webhook_failure").sync(client=customer, webhook_failure_id=failure.id)
        assert pending.webhook_failure.status == models.WebhookFailureStatus.PENDING, pending
        resolved = eventually(
            lambda: (
                lambda f: f if f.webhook_failure.status == models.WebhookFailureStatus.RESOLVED else None
            )(mod("get_webhook_failure").sync(client=customer, webhook_failure_id=failure.id)),
            "the retrigger's delivery",
        )
        assert resolved.webhook_failure.reason is None

        # The event-type catalogue: declared by the operator, read by the customer; a filtered
        # subscription gets only what its filter matches; a payload its type's schema refuses
        # comes back as issues pointing into the body.
        schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}}
        declared = mod("put_event_type").sync(
            name="invoice.paid",
            client=operator,
            body=models.EventTypeDeclaration(
                description="An invoice was paid.",
                schema=models.EventTypeDeclarationSchemaType0.from_dict(schema),
                example=models.EventTypeDeclarationExampleType0.from_dict({"amount": 1200}),
            ),
        )
        assert isinstance(declared, models.EventTypeObject) and declared.name == "invoice.paid", declared
        catalogue = mod("list_event_types").sync(client=customer)
        assert [t.name for t in catalogue.event_types] == ["invoice.paid"], catalogue
        assert catalogue.event_types[0].example.to_dict() == {"amount": 1200}
        filter_ = {"data": {"amount": [{"numeric": [">=", 1000]}]}}
        tried = mod("test_event_filter").sync(
            client=customer,
            body=models.TestEventFilterBody(
                filter_=models.EventFilter.from_dict(filter_),
                event=models.TestEventFilterBodyEvent.from_dict({"event": "invoice.paid", "channel_id": None, "data": {"amount": 5}}),
            ),
        )
        assert tried.matches is False, tried
        big = mod("create_webhook_subscription").sync(
            client=customer,
            body=models.SubscriptionCreate(
                url=f"{receivers.base}/ok/big", events=["invoice.*"], filter_=models.EventFilter.from_dict(filter_)
            ),
        )
        assert isinstance(big, models.SubscriptionWithSecret) and big.filter_.to_dict() == filter_, big
        counts = [
            mod("publish_event").sync(
                client=operator,
                body=models.PublishEventBody(
                    account_id=account.id, event="invoice.paid", data=models.PublishEventBodyData.from_dict({"amount": amount})
                ),
            ).subscriptions
            for amount in (5000, 5)
        ]
        # The big-invoice endpoint takes the first only, the one naming no events both; CRM v2
        # (call.ended) neither.
        assert counts == [2, 1], counts
        refused = mod("publish_event").sync(
            client=operator,
            body=models.PublishEventBody(
                account_id=account.id, event="invoice.paid", data=models.PublishEventBodyData.from_dict({"amount": "5"})
            ),
        )
        assert isinstance(refused, models.Error) and refused.issues[0].field == "data/amount", refused

        # Errors come back as the envelope's model.
        missing = mod("get_webhook_subscription").sync(client=customer, id="00000000-0000-4000-8000-000000000000")
        assert isinstance(missing, models.Error) and missing.error == models.ErrorError.NOT_FOUND, missing
        deleted = mod("delete_webhook_subscription").sync_detailed(client=customer, id=plain.id)
        assert deleted.status_code == 204
        back = mod("reactivate_webhook_subscription").sync(client=customer, id=plain.id)
        assert back.is_active and back.disabled_reason is None
        # Purge: the subscription and its history are gone; the other one's stay.
        purged = mod("delete_webhook_subscription").sync_detailed(client=customer, id=plain.id, purge=True)
        assert purged.status_code == 204, purged
        gone = mod("get_webhook_subscription").sync(client=customer, id=plain.id)
        assert isinstance(gone, models.Error) and gone.error == models.ErrorError.NOT_FOUND, gone
        assert mod("list_webhook_failures").sync(client=customer).metadata.total == 0
        revoked = mod("revoke_token").sync_detailed(client=operator, id=account.id, token_id=token.id)
        assert revoked.status_code == 204
        # Erasure answers what it removed; a second call finds nothing left.
        erased = mod("erase_account").sync(client=operator, id=account.id)
        removed = erased.removed
        # CRM v2 and the big-invoice endpoint (the purged one went before).
        assert (removed.account, removed.tokens, removed.channels, removed.subscriptions) == (1, 1, 1, 2), erased
        assert removed.events >= 1 and removed.attempts >= 1, erased
        again = mod("erase_account").sync(client=operator, id=account.id).removed
        assert sum(again.to_dict().values()) == 0, again
        print("generated client: every flow answered as documented")
        return 0
    finally:
        local.stop()
        receivers.server.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only-client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--local-bin", required=True)
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--out", default=os.path.join(ROOT, "target/openapi-check"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    status = 0 if args.only_client else fuzz(args.local_bin, args.out, args.examples, args.seed)
    status = client_flow(args.local_bin, args.out) or status
    sys.exit(status)


if __name__ == "__main__":
    main()
