"""moto's server for the tests, with the backend serving one request at a time.

DynamoDB applies a conditional write or a transaction atomically against concurrent ones;
moto's threaded server does not (two concurrent transactions can both pass their
conditions), and the store contract's concurrency tests would see that as a hookpost bug.
Connections are still handled concurrently; only the backend work is serialized.

With --iam (the binaries-together test), moto checks every call against the caller's IAM
policies from the moment `POST /moto-api/hookpost/enforce-iam` is made (the set-up before
it, users and policies among it, is not checked). moto authorizes DynamoDB calls against
the resource `*`; here they are authorized as AWS does, against the table's ARN (the
index's, for a Query or Scan on one) and a transaction item by item (PutItem, UpdateItem,
DeleteItem, ConditionCheckItem on each item's table), so a policy naming the wrong table,
index or action is refused as it would be in AWS.

EventBridge delivers an event to its targets whole, `account` included (the ingest
function checks it); moto's default target input leaves `account` out, so it is put back.

Usage: python3 scripts/moto_server.py HOST PORT [--iam]
"""

import json
import os
import sys
import threading

IAM = "--iam" in sys.argv[3:]
if IAM:
    # Read by moto's settings at import: nothing is checked until enforcement is asked for.
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(10**12)

from moto import settings  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

ENFORCE_PATH = "/moto-api/hookpost/enforce-iam"
# What each access key was allowed to do once enforced: {"<key>": ["dynamodb:GetItem", ...]}.
AUTHORIZED_PATH = "/moto-api/hookpost/authorized"
authorized = {}
TRANSACTION_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def authorize_dynamodb_like_aws():
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequest

    def table_arn(handler, table, index=None):
        arn = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{table}"
        return f"{arn}/index/{index}" if index else arn

    def checks(handler):
        """(action, resource) pairs the call needs, as AWS evaluates them."""
        action = handler._get_action()
        body = handler.body
        if not isinstance(body, dict):
            try:
                body = json.loads(body or "{}")
            except ValueError:
                body = {}
        if action == "TransactWriteItems":
            return [
                (TRANSACTION_ACTIONS[kind], table_arn(handler, item["TableName"]))
                for entry in body.get("TransactItems", [])
                for kind, item in entry.items()
            ]
        if action == "TransactGetItems":
            return [("GetItem", table_arn(handler, e["Get"]["TableName"])) for e in body.get("TransactItems", [])]
        if action in ("BatchGetItem", "BatchWriteItem"):
            return [(action, table_arn(handler, table)) for table in body.get("RequestItems", {})]
        if "TableName" in body:
            return [(action, table_arn(handler, body["TableName"], body.get("IndexName")))]
        return [(action, "*")]

    def authorize(self, resource="*"):
        for action, arn in checks(self):
            self._get_action = lambda action=action: action  # the action IAMRequest names
            try:
                self._authenticate_and_authorize_action(IAMRequest, arn)
            finally:
                del self._get_action

    DynamoHandler._authenticate_and_authorize_normal_action = authorize


SQS_BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                     "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def authorize_sqs_like_aws():
    """AWS authorizes SQS's batch actions as their single ones (a policy cannot name
    SendMessageBatch: sqs:SendMessage grants it); moto asks for the batch name."""
    from moto.sqs.responses import SQSResponse

    checked = SQSResponse._authenticate_and_authorize_normal_action

    def authorize(self, resource="*"):
        action = self._get_action()
        if action not in SQS_BATCH_ACTIONS:
            return checked(self, resource)
        self._get_action = lambda: SQS_BATCH_ACTIONS[action]
        try:
            return checked(self, resource)
        finally:
            del self._get_action

    SQSResponse._authenticate_and_authorize_normal_action = authorize


def authorize_events_like_aws():
    """AWS authorizes PutEvents on each entry's event bus (the default bus when none is
    named); moto asks about "*", which a policy naming the bus does not allow."""
    from moto.events.responses import EventsHandler

    checked = EventsHandler._authenticate_and_authorize_normal_action

    def authorize(self, resource="*"):
        if self._get_action() != "PutEvents":
            return checked(self, resource)
        try:
            entries = json.loads(self.body or "{}").get("Entries", [])
        except ValueError:
            entries = []
        buses = {e.get("EventBusName") or "default" for e in entries} or {"default"}
        for bus in sorted(buses):
            arn = bus if bus.startswith("arn:") else f"arn:aws:events:{self.region}:{self.current_account}:event-bus/{bus}"
            checked(self, arn)

    EventsHandler._authenticate_and_authorize_normal_action = authorize


def authorize_kms_like_aws():
    """AWS authorizes a KMS call on the key it names (an id, ARN or alias resolves to the
    key's ARN, which the policy names); moto asks about "*"."""
    from moto.kms.responses import KmsResponse

    checked = KmsResponse._authenticate_and_authorize_normal_action

    def authorize(self, resource="*"):
        try:
            key_id = json.loads(self.body or "{}").get("KeyId")
        except ValueError:
            key_id = None
        if key_id:
            try:
                resource = self.kms_backend.describe_key(key_id).arn
            except Exception:  # an unknown key: moto's own answer says so, after this check
                resource = "*"
        return checked(self, resource)

    KmsResponse._authenticate_and_authorize_normal_action = authorize


def record_what_is_authorized():
    """Keeps, per access key, every action moto allowed it: the test reports grants no call used."""
    checked = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def recording(self, iam_request_cls, resource="*"):
        checked(self, iam_request_cls, resource)
        if settings.INITIAL_NO_AUTH_ACTION_COUNT != 0:
            return
        credential = self.headers.get("Authorization", "").split("Credential=")[-1].split("/")
        if len(credential) >= 4:
            authorized.setdefault(credential[0], set()).add(f"{credential[3]}:{self._get_action()}")

    ActionAuthenticatorMixin._authenticate_and_authorize_action = recording


def deliver_events_like_aws():
    """An event reaches an SQS target as EventBridge sends it: with its `account`."""
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0",', '"version": "0", "account": "<account>",', 1)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    deliver_events_like_aws()
    if IAM:
        authorize_dynamodb_like_aws()
        authorize_sqs_like_aws()
        authorize_events_like_aws()
        authorize_kms_like_aws()
        record_what_is_authorized()

    def serialized(environ, start_response):
        with lock:
            if IAM and environ.get("PATH_INFO") == ENFORCE_PATH and environ.get("REQUEST_METHOD") == "POST":
                settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
                ActionAuthenticatorMixin.request_count = 0
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"IAM enforced\n"]
            if IAM and environ.get("PATH_INFO") == AUTHORIZED_PATH:
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps({key: sorted(actions) for key, actions in authorized.items()}).encode()]
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
