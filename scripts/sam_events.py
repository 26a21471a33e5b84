"""events/: a ready event for every function in template.yaml, with real ids.

Seeds a local table through the functions themselves, running on `cargo lambda watch`
(started with `--env-file lambda.env`): an account, a channel, tokens, subscriptions, a
published event, its delivery and a failure record. Then writes events/<binary>.json for
every function — API Gateway REST proxy events carrying the authorizer context the
authorizer function really returned, the SQS batches the delivery queue really held, the
scheduled event of the sweeper — and invokes each written file once, checking its answer,
so nobody edits placeholders and no event rots.

The same files work with `sam local invoke <Function> -e events/<binary>.json --env-vars
env.json` (Docker) and `cargo lambda invoke <binary> --data-file events/<binary>.json`.
Events that change state answer differently the second time (a channel created twice is a
409, a failure retriggered twice too): run this again for fresh ones.

Usage: python3 scripts/sam_events.py [--endpoint http://127.0.0.1:4566]
       [--invoke http://127.0.0.1:9000] [--table hookpost] [--out events]
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

from cfn_template import ACCOUNT, REGION, ROOT, Template, matches, stream_mapping, stream_records

API_ID = "local"
STAGE = "v1"
# The KMS key local runs seal secrets under (lambda.env, env.json).
LOCAL_KEY_ALIAS = "alias/hookpost-local"
# What every function in template.yaml answers to the event written for it, in the order
# the files are checked (reads before the writes that change what they read).

EXPECTED = [
    ("authorizer", "allow"),
    ("get-me", 200),
    ("list-webhook-subscriptions", 200),
    ("get-webhook-subscription", 200),
    ("list-webhook-subscription-attempts", 200),
    ("list-webhook-failures", 200),
    ("get-webhook-failure", 200),
    ("get-account-usage", 200),
    ("update-webhook-subscription", 200),
    ("rotate-webhook-subscription-secret", 200),
    ("test-webhook-subscription", 200),
    ("create-webhook-subscription", 201),
    ("delete-webhook-subscription", 204),
    ("reactivate-webhook-subscription", 200),
    ("retrigger-webhook-failure", 200),
    ("recover-webhook-failures", 202),
    ("create-account", 201),
    ("update-account", 200),
    ("erase-account", 200),
    ("create-channel", 201),
    ("issue-token", 201),
    ("revoke-token", 204),
    ("create-portal-session", 201),
    ("portal", 200),
    ("publish-event", 202),
    ("list-event-types", 200),
    ("test-event-filter", 200),
    ("event-types", 201),
    ("method-not-allowed", 405),
    ("deliver", "batch"),
    ("dead-letter", "drained"),
    ("ingest-events", "batch"),
    ("sweep-pending-failures", "swept"),
    ("operator-events", "batch"),
]


class Receiver:
    """127.0.0.1: /ok answers 204, /down 500 — where the seeded subscriptions point."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(500 if self.path.startswith("/down") else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


class Functions:
    """The functions as `cargo lambda watch` serves them (the Lambda Invoke API)."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def invoke(self, binary, event):
        request = urllib.request.Request(f"{self.url}/2015-03-31/functions/{binary}/invocations",
                                         data=json.dumps(event).encode(), method="POST",
                                         headers={"content-type": "application/json"})
        try:
            # The first invocation of a function compiles it.
            with urllib.request.urlopen(request, timeout=600) as res:
                body = res.read()
                error = res.headers.get("x-amz-function-error")
        except urllib.error.URLError as err:
            sys.exit(f"cannot reach cargo lambda watch at {self.url} ({err}); start it with "
                     "`cargo lambda watch --env-file lambda.env`")
        answer = json.loads(body) if body else None
        if error:
            return {"function_error": answer}
        return answer


def api_event(method, resource, path, body=None, params=None, query=None, context=None, token=None):
    """A REST API (v1) proxy event as API Gateway sends it from the `v1` stage."""
    headers = {"Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com", "User-Agent": "curl/8.5.0",
               "Accept": "*/*", "X-Forwarded-Proto": "https"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request_context = {
        "resourceId": "abc123", "resourcePath": resource, "httpMethod": method, "path": f"/{STAGE}{path}",
        "accountId": ACCOUNT, "protocol": "HTTP/1.1", "stage": STAGE, "domainName": headers["Host"],
        "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000), "apiId": API_ID,
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0"},
    }
    if context is not None:
        request_context["authorizer"] = context
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": params, "stageVariables": None, "requestContext": request_context,
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def sqs_event(messages, queue_arn):
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": REGION} for m in messages]}


def scheduled_event(rule="sweep"):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/hookpost-{rule}"], "detail": {}}


def wait_for(url, what, seconds=60):
    """Until something answers at `url` (moto and watch may have just been started)."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError as err:
            if time.time() > deadline:
                sys.exit(f"nothing answers at {url} ({err}): is {what} running?")
            time.sleep(0.3)


def answered(answer, status, what):
    if not isinstance(answer, dict) or answer.get("statusCode") != status:
        sys.exit(f"{what}: expected {status}, got {answer}")
    body = answer.get("body")
    return json.loads(body) if body else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="DynamoDB and SQS (moto)")
    parser.add_argument("--invoke", default="http://127.0.0.1:9000", help="cargo lambda watch")
    parser.add_argument("--table", default="hookpost")
    parser.add_argument("--out", default=os.path.join(ROOT, "events"))
    args = parser.parse_args()

    wait_for(args.endpoint, "moto (python3 scripts/moto_server.py 0.0.0.0 4566)")
    wait_for(args.invoke, "cargo lambda watch --env-file lambda.env")
    template = Template()
    declared = {template.binary(logical_id) for logical_id, _ in template.functions()}
    if declared != {binary for binary, _ in EXPECTED}:
        sys.exit(f"template.yaml's functions and this script's events differ: {sorted(declared ^ {b for b, _ in EXPECTED})}")

    def aws(service):
        return boto3.client(service, endpoint_url=args.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")

    sqs = aws("sqs")
    # The names hookpost-local gives its queues, so both can share one table.
    template.create_table(aws("dynamodb"), args.table)
    template.create_queues(sqs, {"DeliveryQueue": f"{args.table}-deliveries",
                                 "DeadLetterQueue": f"{args.table}-dead-letters",
                                 "IngestQueue": f"{args.table}-ingest",
                                 "IngestDeadLetterQueue": f"{args.table}-ingest-dead-letters",
                                 # FIFO queues take the .fifo suffix.
                                 "DeliveryFifoQueue": f"{args.table}-deliveries",
                                 "DeliveryFifoDeadLetterQueue": f"{args.table}-dead-letters"})
    # The master key lambda.env and env.json name (HOOKPOST_KMS_KEY_ID), made once.
    kms = aws("kms")
    if not any(a["AliasName"] == LOCAL_KEY_ALIAS for a in kms.list_aliases()["Aliases"]):
        key = kms.create_key(Description="hookpost: local runs of the functions")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=LOCAL_KEY_ALIAS, TargetKeyId=key)
    deliveries_url, deliveries_arn = template.refs["DeliveryQueue"], template.attrs["DeliveryQueue.Arn"]
    dead_letters_arn = template.attrs["DeadLetterQueue.Arn"]
    fn = Functions(args.invoke)
    rx = Receiver()
    events = {}

    print(f"==> seeding table {args.table} through the functions (the first call of each compiles it)")
    account = answered(fn.invoke("create-account", api_event("POST", "/internal/v1/accounts", "/internal/v1/accounts",
                                                             body={"name": "Local development", "plan": "pro"})),
                       201, "create-account")
    acc = {"id": account["id"]}
    answered(fn.invoke("create-channel", api_event("POST", "/internal/v1/accounts/{id}/channels",
                                                   f"/internal/v1/accounts/{acc['id']}/channels", params=acc,
                                                   body={"channel_id": "dom_local", "channel_type": "domain"})),
             201, "create-channel")
    tokens = []
    for scopes in (["tasks.webhooks.read", "tasks.webhooks.manage"], ["tasks.webhooks.read"]):
        tokens.append(answered(fn.invoke("issue-token", api_event(
            "POST", "/internal/v1/accounts/{id}/tokens", f"/internal/v1/accounts/{acc['id']}/tokens", params=acc,
            body={"scopes": scopes})), 201, "issue-token"))
    token, doomed_token = tokens[0], tokens[1]
    # An account of its own for the erasure event: erasing it leaves the others' ids valid.
    erasable = answered(fn.invoke("create-account", api_event("POST", "/internal/v1/accounts", "/internal/v1/accounts",
                                                              body={"name": "Account to erase", "plan": "starter"})),
                        201, "create-account")

    events["authorizer"] = {
        "type": "REQUEST", "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/GET/api/v1/me",
        "resource": "/api/v1/me", "path": "/api/v1/me", "httpMethod": "GET",
        "headers": {"Authorization": f"Bearer {token['token']}"},
        "multiValueHeaders": {"Authorization": [f"Bearer {token['token']}"]},
        "queryStringParameters": {}, "pathParameters": {}, "stageVariables": {},
        "requestContext": {"path": f"/{STAGE}/api/v1/me", "accountId": ACCOUNT, "resourceId": "abc123",
                           "stage": STAGE, "requestId": str(uuid.uuid4()), "resourcePath": "/api/v1/me",
                           "httpMethod": "GET", "apiId": API_ID, "identity": {"sourceIp": "127.0.0.1"}}}
    policy = fn.invoke("authorizer", events["authorizer"])
    if not isinstance(policy, dict) or "context" not in policy:
        sys.exit(f"authorizer: expected an Allow policy with a context, got {policy}")
    # What API Gateway hands the function: the authorizer's context plus its principal.
    context = {**policy["context"], "principalId": policy["principalId"], "integrationLatency": 12}
    tok = token["token"]

    def customer(method, resource, path, **kw):
        return api_event(method, resource, path, context=context, token=tok, **kw)

    subs = {}
    for key, url, name in (("ok", rx.base + "/ok", "Local receiver"), ("down", rx.base + "/down", "Failing receiver"),
                           ("spare", rx.base + "/ok/spare", "Spare receiver")):
        subs[key] = answered(fn.invoke("create-webhook-subscription", customer(
            "POST", "/api/v1/webhook-subscriptions", "/api/v1/webhook-subscriptions",
            body={"url": url, "name": name, "events": []})), 201, "create-webhook-subscription")

    events["publish-event"] = api_event("POST", "/internal/v1/events", "/internal/v1/events",
                                        body={"account_id": acc["id"], "event": "call.ended", "channel_id": "dom_local",
                                              "data": {"call_id": "c_1", "duration_s": 42}})
    answered(fn.invoke("publish-event", api_event("POST", "/internal/v1/events", "/internal/v1/events", body={
        "account_id": acc["id"], "event": "call.ended", "event_id": f"evt_local_{uuid.uuid4().hex[:12]}",
        "data": {"call_id": "c_0", "duration_s": 7}})), 202, "publish-event")
    messages = []
    deadline = time.time() + 30
    while len(messages) < 3 and time.time() < deadline:
        messages += sqs.receive_message(QueueUrl=deliveries_url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                        WaitTimeSeconds=1).get("Messages", [])
    if len(messages) < 3:
        sys.exit(f"the publish queued {len(messages)} deliveries, not 3 (one per subscription)")
    events["deliver"] = sqs_event(messages, deliveries_arn)
    # The failing subscription's task, as SQS redrives it once deliver has failed on it 5 times:
    # into the dead-letter queue, which the dead-letter function drains on its schedule.
    down = next(m for m in messages if subs["down"]["id"] in m["Body"])
    sqs.send_message(QueueUrl=template.refs["DeadLetterQueue"], MessageBody=down["Body"])
    events["dead-letter"] = scheduled_event("dead-letters")
    # An event sent to the ingest queue, as its event-source mapping hands it to ingest-events
    # (which publishes it: its deliveries are queued for later, like any publish's).
    ingest_url = template.refs["IngestQueue"]
    sqs.send_message(QueueUrl=ingest_url, MessageBody=json.dumps({
        "account_id": acc["id"], "event": "call.ended", "data": {"call_id": "c_2", "duration_s": 12}}))
    ingested = sqs.receive_message(QueueUrl=ingest_url, MaxNumberOfMessages=1, AttributeNames=["All"],
                                   WaitTimeSeconds=1).get("Messages", [])
    if not ingested:
        sys.exit("the ingest queue did not hand back the event sent to it")
    events["ingest-events"] = sqs_event(ingested, template.attrs["IngestQueue.Arn"])
    for binary in ("deliver", "ingest-events"):
        answer = fn.invoke(binary, events[binary])
        if answer != {"batchItemFailures": []}:
            sys.exit(f"{binary}: expected every message handled, got {answer}")
    drained = fn.invoke("dead-letter", events["dead-letter"])
    if drained != {"recorded": 1, "kept": 0}:
        sys.exit(f"dead-letter: expected the dead task recorded, got {drained}")
    for m in messages:
        sqs.delete_message(QueueUrl=deliveries_url, ReceiptHandle=m["ReceiptHandle"])
    sqs.delete_message(QueueUrl=ingest_url, ReceiptHandle=ingested[0]["ReceiptHandle"])

    listed = answered(fn.invoke("list-webhook-failures", customer(
        "GET", "/api/v4/tasks/webhook_failures", "/api/v4/tasks/webhook_failures")), 200, "list-webhook-failures")
    if not listed["webhook_failures"]:
        sys.exit("the dead-letter function wrote no failure record")
    failure = {"webhook_failure_id": listed["webhook_failures"][0]["id"]}
    # The table's stream as Lambda hands it to operator-events: the changes its filter lets
    # through (the failure record just written among them).
    _, patterns = stream_mapping(template)
    changes = [r for r in stream_records(aws("dynamodbstreams"), template.attrs["Table.StreamArn"], {})
               if any(matches(p, r) for p in patterns)]
    if not changes:
        sys.exit("the table's stream shows no failure record")
    events["operator-events"] = {"Records": changes[-10:]}
    sub = {"id": subs["ok"]["id"]}

    print("==> writing the events")
    events.update({
        "get-me": customer("GET", "/api/v1/me", "/api/v1/me"),
        "list-webhook-subscriptions": customer("GET", "/api/v1/webhook-subscriptions", "/api/v1/webhook-subscriptions",
                                               query={"limit": "10"}),
        "get-webhook-subscription": customer("GET", "/api/v1/webhook-subscriptions/{id}",
                                             f"/api/v1/webhook-subscriptions/{sub['id']}", params=sub),
        "list-webhook-subscription-attempts": customer("GET", "/api/v1/webhook-subscriptions/{id}/attempts",
                                                       f"/api/v1/webhook-subscriptions/{sub['id']}/attempts", params=sub),
        "list-webhook-failures": customer("GET", "/api/v4/tasks/webhook_failures", "/api/v4/tasks/webhook_failures",
                                          query={"status": "inactive,pending"}),
        "get-webhook-failure": customer("GET", "/api/v4/tasks/webhook_failures/{webhook_failure_id}",
                                        f"/api/v4/tasks/webhook_failures/{failure['webhook_failure_id']}", params=failure),
        "update-webhook-subscription": customer("PATCH", "/api/v1/webhook-subscriptions/{id}",
                                                f"/api/v1/webhook-subscriptions/{sub['id']}", params=sub,
                                                body={"name": "Local receiver (renamed)", "events": ["call.ended"]}),
        "rotate-webhook-subscription-secret": customer("POST", "/api/v1/webhook-subscriptions/{id}/rotate-secret",
                                                       f"/api/v1/webhook-subscriptions/{sub['id']}/rotate-secret",
                                                       params=sub),
        "test-webhook-subscription": customer("POST", "/api/v1/webhook-subscriptions/{id}/test",
                                              f"/api/v1/webhook-subscriptions/{sub['id']}/test", params=sub),
        "create-webhook-subscription": customer("POST", "/api/v1/webhook-subscriptions", "/api/v1/webhook-subscriptions",
                                                body={"url": rx.base + "/ok/new", "name": "Another receiver",
                                                      "events": ["call.ended"], "channel_id": "dom_local"}),
        "delete-webhook-subscription": customer("DELETE", "/api/v1/webhook-subscriptions/{id}",
                                                f"/api/v1/webhook-subscriptions/{subs['spare']['id']}",
                                                params={"id": subs["spare"]["id"]}),
        "reactivate-webhook-subscription": customer("POST", "/api/v1/webhook-subscriptions/{id}/reactivate",
                                                    f"/api/v1/webhook-subscriptions/{subs['spare']['id']}/reactivate",
                                                    params={"id": subs["spare"]["id"]}),
        "retrigger-webhook-failure": customer("POST", "/api/v4/tasks/webhook_failures/{webhook_failure_id}/retrigger",
                                              f"/api/v4/tasks/webhook_failures/{failure['webhook_failure_id']}/retrigger",
                                              params=failure),
        "recover-webhook-failures": customer("POST", "/api/v4/tasks/webhook_failures/recover",
                                             "/api/v4/tasks/webhook_failures/recover",
                                             body={"webhook_id": subs["down"]["id"]}),
        "get-account-usage": api_event("GET", "/internal/v1/accounts/{id}/usage", f"/internal/v1/accounts/{acc['id']}/usage",
                                       params=acc),
        "create-account": api_event("POST", "/internal/v1/accounts", "/internal/v1/accounts",
                                    body={"name": "Another account", "plan": "starter"}),
        "update-account": api_event("PATCH", "/internal/v1/accounts/{id}", f"/internal/v1/accounts/{acc['id']}",
                                    params=acc, body={"plan": "business"}),
        "erase-account": api_event("DELETE", "/internal/v1/accounts/{id}", f"/internal/v1/accounts/{erasable['id']}",
                                   params={"id": erasable["id"]}),
        "create-channel": api_event("POST", "/internal/v1/accounts/{id}/channels",
                                    f"/internal/v1/accounts/{acc['id']}/channels", params=acc,
                                    body={"channel_id": "dom_local_2", "channel_type": "domain"}),
        "issue-token": api_event("POST", "/internal/v1/accounts/{id}/tokens", f"/internal/v1/accounts/{acc['id']}/tokens",
                                 params=acc, body={"scopes": ["tasks.webhooks.read"], "expires_in_days": 30}),
        "revoke-token": api_event("DELETE", "/internal/v1/accounts/{id}/tokens/{token_id}",
                                  f"/internal/v1/accounts/{acc['id']}/tokens/{doomed_token['id']}",
                                  params={"id": acc["id"], "token_id": doomed_token["id"]}),
        "create-portal-session": api_event("POST", "/internal/v1/accounts/{id}/portal-sessions",
                                           f"/internal/v1/accounts/{acc['id']}/portal-sessions", params=acc,
                                           body={"expires_in_minutes": 60}),
        # The portal's page: no credential, so no authorizer context.
        "portal": api_event("GET", "/portal", "/portal"),
        # A method the route does not take: API Gateway sends it to the ANY method's function.
        "method-not-allowed": api_event("PUT", "/api/v1/me", "/api/v1/me", body={}),
        "sweep-pending-failures": scheduled_event(),
        # The catalogue: customers read it and try a filter; the operator declares a type.
        "list-event-types": customer("GET", "/api/v1/event-types", "/api/v1/event-types"),
        "test-event-filter": customer("POST", "/api/v1/event-filters/test", "/api/v1/event-filters/test",
                                      body={"filter": {"event": ["call.ended"], "data": {"call_id": [{"numeric": [">", 0]}]}},
                                            "event": {"event": "call.ended", "channel_id": None, "data": {"call_id": 7}}}),
        "event-types": api_event("PUT", "/internal/v1/event-types/{name}", "/internal/v1/event-types/call.ended",
                                 params={"name": "call.ended"},
                                 body={"description": "A call ended.",
                                       "schema": {"type": "object", "properties": {"call_id": {"type": "integer"}}},
                                       "example": {"call_id": 7}}),
    })
    os.makedirs(args.out, exist_ok=True)
    for stale in os.listdir(args.out):
        if stale.endswith(".json") and stale[:-5] not in events:
            os.remove(os.path.join(args.out, stale))
    for binary, event in events.items():
        with open(os.path.join(args.out, f"{binary}.json"), "w") as f:
            json.dump(event, f, indent=2)
            f.write("\n")

    print("==> invoking every written event")
    for binary, expected in EXPECTED:
        with open(os.path.join(args.out, f"{binary}.json")) as f:
            answer = fn.invoke(binary, json.load(f))
        if expected == "allow":
            ok = isinstance(answer, dict) and answer.get("principalId") == acc["id"] \
                and answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        elif expected == "batch":
            ok = answer == {"batchItemFailures": []}
        elif expected == "swept":
            ok = isinstance(answer, dict) and "returned" in answer
        elif expected == "drained":
            ok = isinstance(answer, dict) and answer.get("kept") == 0 and "recorded" in answer
        else:
            ok = isinstance(answer, dict) and answer.get("statusCode") == expected
        print(f"{binary:36} {'ok' if ok else 'UNEXPECTED'}  {json.dumps(answer)[:100]}")
        if not ok:
            sys.exit(f"events/{binary}.json: expected {expected}, got {answer}")
    print(f"{os.path.relpath(args.out, ROOT)}/: {len(events)} events, one per function in template.yaml, "
          "each answered as expected")


if __name__ == "__main__":
    main()
