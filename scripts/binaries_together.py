"""The shipped binaries, together, as Lambda runs them: the evidence that a deployment works.

Every function `template.yaml` declares runs from its own `bootstrap` (the zips
scripts/check-lambda builds) as its own process, polling its own Lambda runtime API (an
emulator here), with the environment the template gives it and the `AWS_LAMBDA_*`
variables Lambda sets. Around them this harness plays AWS from `template.yaml` itself:

- DynamoDB and SQS: moto (scripts/moto_server.py --iam). The table is created from the
  template's definition, the delivery queue and its dead-letter queue with the template's
  redrive (only the visibility timeout is shortened, so a redrive takes seconds). Each
  function gets an IAM user holding exactly the statements the template grants it, and moto
  refuses anything else: a missing or wrong permission fails here, not at the first deploy.
- API Gateway: requests are matched to the template's Api events (literal segments before
  `{variables}`, a resource's own methods before its ANY); the authorizer binary answers
  for the PAT routes and its policy must allow the method ARN; its context becomes the
  request context the function gets; events are REST proxy events.
- The SQS event-source mappings: the queue is received from and the function invoked with a
  batch; what it does not report failed is deleted. The schedule: the sweeper is invoked
  with a scheduled event.

Variables a local run overrides must be ones the template declares (as `sam local
--env-vars` requires); parameters are overridden as `--parameter-overrides` would.

The flow: operator → account, channel, token; the authorizer gates every customer call;
subscriptions are created, read, listed, changed, rotated and tested; a publish and a batch
publish reach a receiver that verifies the signature with the stock `standardwebhooks`
library; a receiver
that keeps failing ends in a failure record; a DynamoDB outage seen by `deliver` sends a
task through SQS's redrive to the dead-letter queue and the `dead-letter` binary records
it; retrigger and recover resolve records; the sweeper returns a stuck retrigger; a token
is revoked. Every function must have been started and invoked, or the run fails. Last, a
control: one permission taken from one function must make it fail.

Usage: python3 scripts/binaries_together.py --lambda-dir target/lambda
"""

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from standardwebhooks.webhooks import Webhook

from cfn_template import ACCOUNT, REGION, Template, matches, stream_mapping, stream_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = "hookpost-binaries"
API_ID = "hookpostapi"
STAGE = "v1"
# The one change to the template's resources: redrives in seconds, not 5 × 180 s.
TEST_VISIBILITY_SECS = 2
PARAMETER_OVERRIDES = {"RetrySchedule": "0,1"}
# What a local run sets (env.json does the same for sam local); all declared by the template.
LOCAL_VARIABLES = {
    "HOOKPOST_ALLOW_HTTP": "true",
    "HOOKPOST_ALLOW_CIDRS": "127.0.0.0/8",
    # No name is ever resolved through this machine's resolver (a private address).
    "HOOKPOST_RESOLVE": "*=192.0.2.1",
}


def expect(answer, status, what):
    """The body of a (status, body) answer, or the run stops saying what was expected."""
    if answer[0] != status:
        raise SystemExit(f"{what}: expected {status}, got {answer}")
    return answer[1]


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



class Server(ThreadingHTTPServer):
    """A threaded HTTP server whose listen backlog takes a batch of a hundred concurrent
    deliveries: with socketserver's default of five, the connections past it wait out TCP's
    SYN retries (1 s, 3 s, 7 s, …), a delay no receiver in AWS would add."""

    request_queue_size = 128
    daemon_threads = True

# --- moto ------------------------------------------------------------------------------


class Moto:
    """moto with IAM enforced from `enforce()` on, on a free port of its own."""

    def __init__(self, out):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(out, "moto.log"), "w")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts/moto_server.py"), "127.0.0.1", str(self.port), "--iam"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("moto did not start")

    def client(self, service, key="setup", secret="setup"):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=key, aws_secret_access_key=secret)

    def enforce(self):
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/hookpost/enforce-iam", method="POST"))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


class Outage:
    """A proxy in front of moto: what the deliver function sees of a DynamoDB outage. While
    `mode` is "all" every DynamoDB call is throttled, while "writes" only the writes (the
    reads pass, so a delivery is made and its outcome cannot be recorded); SQS always passes."""

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")

    def __init__(self, upstream):
        self.mode = None
        outage = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                target = self.headers.get("x-amz-target", "")
                if target.startswith("DynamoDB_") and (
                        outage.mode == "all" or (outage.mode == "writes" and target.endswith(Outage.WRITES))):
                    payload = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"outage"}'
                    self.send_response(400)
                    self.send_header("content-type", "application/x-amz-json-1.0")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                req = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                             headers={k: v for k, v in self.headers.items()})
                try:
                    with urllib.request.urlopen(req) as res:
                        status, headers, payload = res.status, res.headers, res.read()
                except urllib.error.HTTPError as err:
                    status, headers, payload = err.code, err.headers, err.read()
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


# --- Lambda ----------------------------------------------------------------------------


class Function:
    """One function's process, polling its own runtime API emulator."""

    def __init__(self, logical_id, binary, zip_path, env, timeout, memory, out, log_name=None):
        self.name, self.binary, self.timeout, self.memory = logical_id, binary, timeout, memory
        self.invocations = 0
        # What Lambda bills: from handing the event out to the function's answer, per request.
        self.handed_out = {}
        self.billed_seconds = 0.0
        # SQS messages handed to it by its event-source mapping.
        self.messages = 0
        self.pending = queue.Queue()
        self.results = {}
        self.cond = threading.Condition()
        function = self

        class Runtime(BaseHTTPRequestHandler):
            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                request_id, event = function.pending.get()
                with function.cond:
                    function.handed_out[request_id] = time.monotonic()
                payload = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + function.timeout) * 1000)))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function.name}")
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                parts = self.path.split("/")
                if "invocation" in parts and parts[-1] in ("response", "error"):
                    with function.cond:
                        started = function.handed_out.pop(parts[-2], None)
                        if started is not None:
                            function.billed_seconds += time.monotonic() - started
                        function.results[parts[-2]] = (parts[-1], body)
                        function.cond.notify_all()
                elif self.path.endswith("/init/error"):
                    with function.cond:
                        function.results["init"] = ("error", body)
                        function.cond.notify_all()
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Runtime)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # Lambda's /var/task: removed again in stop(), 7 MB per function per run.
        task_root = self.task_root = tempfile.mkdtemp(prefix=f"lambda-{binary}-")
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(task_root)
        bootstrap = os.path.join(task_root, "bootstrap")
        os.chmod(bootstrap, 0o755)
        lambda_env = {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "binaries-together",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": task_root,
            "TZ": ":UTC",
            "PATH": "/usr/bin:/bin",
        }
        self.log_path = os.path.join(out, f"{log_name or binary}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([bootstrap], env={**env, **lambda_env}, cwd=task_root,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def invoke(self, event):
        """The function's answer to `event`; raises on a function error."""
        request_id = str(uuid.uuid4())
        self.invocations += 1
        self.pending.put((request_id, event))
        deadline = time.time() + self.timeout + 5
        with self.cond:
            while request_id not in self.results and "init" not in self.results:
                left = deadline - time.time()
                if left <= 0 or self.process.poll() is not None:
                    raise FunctionFailed(self, f"no answer ({'exited' if self.process.poll() is not None else 'timeout'})")
                self.cond.wait(timeout=min(left, 0.5))
            kind, body = self.results.pop(request_id, None) or self.results["init"]
        if kind == "error":
            raise FunctionFailed(self, body.decode(errors="replace"))
        return json.loads(body) if body else None

    def gb_seconds(self):
        return self.billed_seconds * self.memory / 1024

    def logged_bytes(self):
        """What the function has written to stdout and stderr so far: in AWS, what CloudWatch
        Logs ingests from it (besides Lambda's own START and REPORT lines)."""
        self.log.flush()
        return os.path.getsize(self.log_path)

    def cpu_seconds(self):
        """User and system CPU time of the function's process so far (Linux /proc)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        self.server.shutdown()
        shutil.rmtree(self.task_root, ignore_errors=True)


class FunctionFailed(Exception):
    def __init__(self, function, detail):
        super().__init__(f"{function.name}: {detail}")
        self.function, self.detail = function, detail


# --- API Gateway -----------------------------------------------------------------------


class Gateway:
    """API Gateway from the template's Api events."""

    def __init__(self, template, functions):
        self.functions = functions
        self.routes = []  # (method, resource, function logical id, auth)
        default_auth = "PatAuthorizer"
        for logical_id, resource in template.functions():
            for event in (resource["Properties"].get("Events") or {}).values():
                if event["Type"] != "Api":
                    continue
                props = event["Properties"]
                auth = (props.get("Auth") or {}).get("Authorizer", default_auth)
                self.routes.append((props["Method"].upper(), props["Path"], logical_id, auth))

    @staticmethod
    def match(resource, path):
        params = {}
        r, p = resource.strip("/").split("/"), path.strip("/").split("/")
        if len(r) != len(p):
            return None
        for rs, ps in zip(r, p):
            if rs.startswith("{") and rs.endswith("}"):
                if not ps:
                    return None
                params[rs[1:-1]] = urllib.parse.unquote(ps)
            elif rs != ps:
                return None
        return params

    def route(self, method, path):
        candidates = [(r, self.match(r[1], path)) for r in self.routes]
        candidates = [(r, p) for r, p in candidates if p is not None]
        if not candidates:
            return None, None
        literal = lambda res: sum(1 for s in res.split("/") if s and not s.startswith("{"))  # noqa: E731
        best = max(literal(r[1]) for r, _ in candidates)
        resource_routes = [(r, p) for r, p in candidates if literal(r[1]) == best]
        for wanted in (method, "ANY"):
            for r, p in resource_routes:
                if r[0] == wanted:
                    return r, p
        return None, None

    def call(self, method, path, bearer=None, body=None, query=None, raw=False):
        """(status, JSON body) as a client of the deployed API would get it; with `raw`,
        (status, body text, headers)."""
        route, params = self.route(method, path)
        if route is None:
            return 404, {"error": "not_found"}
        _, resource, logical_id, auth = route
        domain = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
        headers = {"Host": domain, "User-Agent": "binaries-together", "X-Forwarded-Proto": "https"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"
        context = {"resourceId": "r1", "resourcePath": resource, "httpMethod": method, "path": f"/{STAGE}{path}",
                   "accountId": ACCOUNT, "protocol": "HTTP/1.1", "stage": STAGE, "requestId": str(uuid.uuid4()),
                   "apiId": API_ID, "domainName": domain,
                   "identity": {"sourceIp": "127.0.0.1", "userAgent": "binaries-together"}}
        if auth == "PatAuthorizer":
            authorizer_event = {"type": "REQUEST", "methodArn": method_arn, "resource": resource, "path": path,
                                "httpMethod": method, "headers": headers,
                                "multiValueHeaders": {k: [v] for k, v in headers.items()},
                                "queryStringParameters": query or {}, "pathParameters": params,
                                "stageVariables": {}, "requestContext": context}
            try:
                answer = self.functions["AuthorizerFunction"].invoke(authorizer_event)
            except FunctionFailed as failed:
                if "Unauthorized" in failed.detail:
                    return 401, {"error": "unauthorized"}
                return 500, {"error": "internal_error"}
            if not allows(answer["policyDocument"], method_arn):
                return 401, {"error": "unauthorized"}
            context["authorizer"] = {**answer.get("context", {}), "principalId": answer["principalId"]}
        elif auth == "AWS_IAM":
            context["identity"].update({"accessKey": "operator", "userArn": f"arn:aws:iam::{ACCOUNT}:user/operator"})
        event = {"resource": resource, "path": path, "httpMethod": method, "headers": headers,
                 "multiValueHeaders": {k: [v] for k, v in headers.items()},
                 "queryStringParameters": query or None,
                 "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
                 "pathParameters": params or None, "stageVariables": None, "requestContext": context,
                 "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}
        answer = self.functions[logical_id].invoke(event)
        text = answer.get("body") or ""
        if raw:
            headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
            headers.update({k.lower(): v[0] for k, v in (answer.get("multiValueHeaders") or {}).items() if v})
            return answer["statusCode"], text, headers
        return answer["statusCode"], (json.loads(text) if text else None)


def scheduled_event(rule):
    """What an EventBridge schedule hands a function."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"], "detail": {}}


def allows(policy, method_arn):
    """Whether an authorizer's policy allows invoking `method_arn` (Allow, wildcards)."""
    import fnmatch

    allowed = False
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


# --- receivers -------------------------------------------------------------------------


class Receivers:
    """/ok/<n> answers 204 (/slow/<n> after 100 ms) and verifies each delivery with the stock standardwebhooks library
    against the secret the test registered for it; /down answers 500. A callable put in
    `before_answer` under a path runs once, after verifying and before answering: what
    happens while a delivery is on its way."""

    def __init__(self):
        self.secrets, self.verified, self.failed, self.before_answer = {}, [], [], {}
        # Every request's (path, webhook-id, arrival on the receiver's clock).
        self.arrivals = []
        self.lock = threading.Lock()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receivers.lock:
                    first = not any(a[1] == self.headers.get("webhook-id") for a in receivers.arrivals)
                    receivers.arrivals.append((self.path, self.headers.get("webhook-id"), arrived))
                # /flaky fails the first attempt of every third event (its data's n).
                flaky = self.path.startswith("/flaky") and first and json.loads(body)["data"].get("n", 1) % 3 == 0
                if self.path.startswith("/down") or flaky:
                    receivers.failed.append(self.headers.get("webhook-id"))
                    self.send_response(500)
                else:
                    if self.path.startswith("/slow"):
                        time.sleep(0.1)  # a receiver that takes its time, as most do
                    secret = receivers.secrets[self.path]
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    Webhook(secret).verify(body, headers)
                    receivers.verified.append((self.path, headers["webhook-id"], json.loads(body)))
                    meanwhile = receivers.before_answer.pop(self.path, None)
                    if meanwhile:
                        meanwhile()
                    self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


# --- the run ---------------------------------------------------------------------------


class Harness:
    def __init__(self, lambda_dir, out):
        self.out = out
        self.template = Template(parameter_overrides=PARAMETER_OVERRIDES)
        self.moto = Moto(out)
        self.outage = Outage(self.moto.url)
        self.functions = {}
        self.environments = {}
        self.access_keys = {}
        self.receivers = Receivers()

    def create_resources(self):
        self.template.create_keys(self.moto.client("kms"))
        self.template.create_table(self.moto.client("dynamodb"), TABLE)
        self.stream_position, self.stream_seen = {}, 0
        # The team's routing: a rule on the bus sending hookpost's events to a queue.
        sqs, events = self.moto.client("sqs"), self.moto.client("events")
        self.probe_url = sqs.create_queue(QueueName="operator-events-probe")["QueueUrl"]
        probe_arn = sqs.get_queue_attributes(QueueUrl=self.probe_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = self.template.parameters["OperatorEventBus"]
        events.put_rule(Name="hookpost-operator-events", EventBusName=bus, EventPattern=json.dumps({"source": ["hookpost"]}))
        events.put_targets(Rule="hookpost-operator-events", EventBusName=bus, Targets=[{"Id": "probe", "Arn": probe_arn}])
        queues = [k for k, v in self.template.resources.items() if v["Type"] == "AWS::SQS::Queue"]
        self.template.create_queues(self.moto.client("sqs"), {q: q for q in queues}, TEST_VISIBILITY_SECS)
        # The ingest bus and its rule as the template declares them: hookpost's own bus (by
        # default), the rule's pattern (this account, the trusted sources), its target queue.
        bus = self.template.resources["IngestBus"]
        if self.template.holds(bus["Condition"]):
            name = self.template.resolve(bus["Properties"]["Name"])
            events.create_event_bus(Name=name)
            self.template.refs["IngestBus"] = name
        rule = self.template.resources["IngestRule"]["Properties"]
        self.ingest_bus = self.template.resolve(rule["EventBusName"])
        self.ingest_pattern = self.template.resolve_deep(rule["EventPattern"])
        events.put_rule(Name="hookpost-ingest", EventBusName=self.ingest_bus, EventPattern=json.dumps(self.ingest_pattern))
        events.put_targets(Rule="hookpost-ingest", EventBusName=self.ingest_bus,
                           Targets=[{"Id": t["Id"], "Arn": self.template.resolve(t["Arn"])} for t in rule["Targets"]])

    def iam_user(self, name, statements):
        iam = self.moto.client("iam")
        iam.create_user(UserName=name)
        # A function the template grants nothing (method-not-allowed) gets a user with no policy.
        if statements:
            iam.put_user_policy(UserName=name, PolicyName="template",
                                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def statements_of(self, resource):
        statements = []
        for policy in resource["Properties"].get("Policies") or []:
            if not isinstance(policy, dict) or "Statement" not in policy:
                raise SystemExit(f"the harness reads only inline Statement policies, not {policy}")
            for statement in policy["Statement"]:
                resources = statement["Resource"]
                resources = resources if isinstance(resources, list) else [resources]
                statements.append({"Effect": statement["Effect"], "Action": statement["Action"],
                                   "Resource": [self.template.resolve(r) for r in resources]})
        return statements

    def start_functions(self, lambda_dir):
        t = self.template
        undeclared = (set(LOCAL_VARIABLES) | {"HOOKPOST_DYNAMODB_ENDPOINT", "HOOKPOST_SQS_ENDPOINT"}) - t.declared_variables()
        if undeclared:
            raise SystemExit(f"a local run sets {sorted(undeclared)}, which template.yaml does not declare")
        for logical_id, resource in t.functions():
            props = resource["Properties"]
            binary = t.binary(logical_id)
            variables = t.variables(logical_id)
            env = {k: t.resolve(v) for k, v in variables.items()}
            env.update(LOCAL_VARIABLES)
            # deliver reaches DynamoDB through the outage switch; everyone else directly.
            env["HOOKPOST_DYNAMODB_ENDPOINT"] = self.outage.url if binary == "deliver" else self.moto.url
            env["HOOKPOST_SQS_ENDPOINT"] = self.moto.url
            env["HOOKPOST_EVENTS_ENDPOINT"] = self.moto.url
            key, secret = self.iam_user(logical_id, self.statements_of(resource))
            self.access_keys[logical_id] = key
            env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
            zip_path = os.path.join(lambda_dir, binary, "bootstrap.zip")
            if not os.path.isfile(zip_path):
                raise SystemExit(f"{zip_path} is missing: template.yaml names {binary} (run scripts/check-lambda)")
            timeout = int(props.get("Timeout", t.globals.get("Timeout", 3)))
            memory = int(props.get("MemorySize", t.globals.get("MemorySize", 128)))
            self.environments[logical_id] = (zip_path, env, timeout, memory)
            self.functions[logical_id] = Function(logical_id, binary, zip_path, env, timeout, memory, self.out)
        self.admin = self.iam_user("harness", [{"Effect": "Allow", "Action": "*", "Resource": "*"}])

    def aws(self, service):
        return self.moto.client(service, *self.admin)

    def cold_start(self, logical_id):
        """A new instance of the function in place of the running one, as Lambda starts one
        (nothing it cached in memory survives)."""
        self.functions[logical_id].stop()
        zip_path, env, timeout, memory = self.environments[logical_id]
        self.functions[logical_id] = Function(logical_id, self.template.binary(logical_id), zip_path, env, timeout,
                                              memory, self.out, log_name=f"{self.template.binary(logical_id)}-2")

    def age_current_data_key(self, days):
        """The key new secrets are sealed with, made `days` older (a month passing)."""
        ddb = self.aws("dynamodb")
        key = {"pk": {"S": "DATAKEY"}, "sk": {"S": "CURRENT"}}
        made = int(ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]["created_at"]["N"])
        ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET created_at = :t",
                        ExpressionAttributeValues={":t": {"N": str(made - days * 86400)}})

    def function_of(self, binary):
        return next(f for f in self.functions.values() if f.binary == binary)

    def batch_size(self, logical_queue):
        """The template's `BatchSize` for the SQS event-source mapping of `logical_queue`."""
        for _, resource in self.template.functions():
            for event in (resource["Properties"].get("Events") or {}).values():
                queue = event["Properties"].get("Queue") if event["Type"] == "SQS" else None
                if queue == {"Fn::GetAtt": [logical_queue, "Arn"]}:
                    return int(event["Properties"].get("BatchSize", 10))
        raise SystemExit(f"template.yaml maps no function to {logical_queue}")

    def feed(self, logical_queue, binary, until, what, timeout=60, batch_size=None, function=None):
        """The SQS event-source mapping of `logical_queue` → `binary` (or this `function`, a
        second process of it), until `until()`: as Lambda does, up to the mapping's
        `BatchSize` messages an invocation, gathered ten to a `ReceiveMessage` (SQS's limit)
        while the queue has more (the batching window)."""
        sqs = self.aws("sqs")
        url = self.template.refs[logical_queue]
        arn = self.template.attrs[f"{logical_queue}.Arn"]
        function = function or self.function_of(binary)
        batch_size = batch_size or self.batch_size(logical_queue)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if until():
                return
            messages = []
            while len(messages) < batch_size:
                received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
                                               AttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
                messages += received
                if not received:
                    break
            if not messages:
                time.sleep(0.3)
                continue
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION} for m in messages]
            function.messages += len(records)
            answer = function.invoke({"Records": records})
            failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        raise SystemExit(f"timed out waiting for {what}")

    def feed_stream(self):
        """Lambda's event-source mapping of the table's stream, played once over every record
        since the last call: the template's filter decides which records invoke the function,
        and a reported batch item failure is handed over again from that record on."""
        logical_id, patterns = stream_mapping(self.template)
        function = self.functions[logical_id]
        records = stream_records(self.aws("dynamodbstreams"), self.template.attrs["Table.StreamArn"], self.stream_position)
        self.stream_seen += len(records)
        matching = [r for r in records if any(matches(p, r) for p in patterns)]
        for _ in range(5):
            if not matching:
                return
            answer = function.invoke({"Records": matching})
            failed = [f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])]
            if not failed:
                return
            at = next(i for i, e in enumerate(matching) if e["dynamodb"]["SequenceNumber"] == failed[0])
            matching = matching[at:]
        raise SystemExit(f"operator-events kept failing on {matching[0]['dynamodb']['SequenceNumber']}")

    def operator_events(self, gw, account, pat):
        """A subscription auto-disabled by its fifth failed event in a row, and the records
        before it, reach a rule on the operator's bus through the table's stream."""
        log("==> operator events: the table's stream → operator-events → EventBridge → a rule's queue")
        rx = self.receivers
        flaky = gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                        body={"url": rx.base + "/down/op", "events": ["op.test"]})[1]
        # Four events failed already: the next one's failure is the fifth in a row.
        self.aws("dynamodb").update_item(
            TableName=TABLE, Key={"pk": {"S": f"ACCOUNT#{account}"}, "sk": {"S": f"SUB#{flaky['id']}"}},
            UpdateExpression="SET consecutive_failures = :four", ExpressionAttributeValues={":four": {"N": "4"}})
        for n in (1, 2):
            answer = gw.call("POST", "/internal/v1/events", body={"account_id": account, "event": "op.test",
                                                                   "data": {"n": n}, "event_id": f"evt_op_{n}"})
            assert answer[0] == 202, answer
            if n == 1:
                def disabled():
                    sub = gw.call("GET", f"/api/v1/webhook-subscriptions/{flaky['id']}", bearer=pat)[1]
                    return sub["disabled_reason"] == "auto_disabled"
                self.feed("DeliveryQueue", "deliver", disabled, "the auto-disable")
        self.feed_stream()
        sqs = self.aws("sqs")
        got = []
        deadline = time.time() + 20
        while time.time() < deadline:
            messages = sqs.receive_message(QueueUrl=self.probe_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for m in messages:
                got.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.probe_url, ReceiptHandle=m["ReceiptHandle"])
            if any(e["detail"].get("event_id") == "evt_op_2" for e in got):
                break
        kinds = sorted(e["detail-type"] for e in got)
        assert all(e["source"] == "hookpost" for e in got), got
        disables = [e for e in got if e["detail-type"] == "Webhook Subscription Auto-Disabled"]
        assert len(disables) == 1 and disables[0]["detail"]["subscription_id"] == flaky["id"], kinds
        assert disables[0]["detail"]["consecutive_failures"] == 5, disables
        recorded = {e["detail"]["event_id"]: e["detail"]["reason"] for e in got if e["detail-type"] == "Webhook Failure Recorded"}
        assert recorded.get("evt_op_1") == "http_status: 500" and recorded.get("evt_op_2") == "subscription_disabled", recorded
        # Every failure record of the run so far, each once.
        assert {"evt_together_2", "evt_together_3", "evt_together_4"} <= set(recorded), recorded
        log(f"    {len(got)} operator events on the bus ({len(recorded)} failure records, 1 auto-disable) from "
            f"{self.stream_seen} stream records; the template's filter let {self.function_of('operator-events').invocations} "
            "batches through")

    def run(self):
        gw = Gateway(self.template, self.functions)
        rx = self.receivers


        log("==> operator: account, channel, token (AWS_IAM routes)")
        account = expect(gw.call("POST", "/internal/v1/accounts", body={"name": "Acme", "plan": "starter"}), 201, "create account")
        expect(gw.call("PATCH", f"/internal/v1/accounts/{account['id']}", body={"plan": "pro"}), 200, "update account")
        expect(gw.call("POST", f"/internal/v1/accounts/{account['id']}/channels",
                       body={"channel_id": "dom_1", "channel_type": "domain"}), 201, "create channel")
        token = expect(gw.call("POST", f"/internal/v1/accounts/{account['id']}/tokens",
                               body={"scopes": ["tasks.webhooks.read", "tasks.webhooks.manage"]}), 201, "issue token")
        pat = token["token"]

        log("==> the authorizer gates every customer call")
        expect(gw.call("GET", "/api/v1/me"), 401, "no token")
        expect(gw.call("GET", "/api/v1/me", bearer="hp_pat_" + "0" * 64), 401, "unknown token")
        me = expect(gw.call("GET", "/api/v1/me", bearer=pat), 200, "me")
        assert me["plan_name"] == "pro", me
        expect(gw.call("PUT", "/api/v1/me", bearer=pat), 405, "a method the route does not take")
        reader = expect(gw.call("POST", f"/internal/v1/accounts/{account['id']}/tokens",
                                body={"scopes": ["tasks.webhooks.read"]}), 201, "issue a read-only token")
        refused = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=reader["token"],
                                 body={"url": rx.base + "/ok/1"}), 403, "a write with a read-only token")
        assert refused["error"] == "insufficient_scope", refused

        log("==> a portal link: traded once for its session, the authorizer's gate, the page and its files")
        session = expect(gw.call("POST", f"/internal/v1/accounts/{account['id']}/portal-sessions",
                                 body={"expires_in_minutes": 30}), 201, "create a portal link")
        link = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/{STAGE}/portal#session={session['token']}"
        assert session["url"] == link, (session["url"], link)
        expect(gw.call("GET", "/api/v1/me", bearer=session["token"]), 401, "a portal link used as a bearer")
        opened = expect(gw.call("POST", "/portal/sessions", body={"link": session["token"]}), 201, "open the link")
        expect(gw.call("POST", "/portal/sessions", body={"link": session["token"]}), 401, "open the link again")
        session["token"] = opened["session"]
        assert expect(gw.call("GET", "/api/v1/me", bearer=session["token"]), 200, "a portal session")["plan_name"] == "pro"
        status, page, headers = gw.call("GET", "/portal", raw=True)
        assert status == 200 and 'src="portal/app.js"' in page, (status, page[:200])
        assert "script-src 'self'" in headers.get("content-security-policy", ""), headers
        status, script, headers = gw.call("GET", "/portal/app.js", raw=True)
        assert status == 200 and headers.get("content-type", "").startswith("text/javascript"), (status, headers)
        expect(gw.call("GET", "/portal/nothing.js"), 404, "a file the portal does not have")
        expect(gw.call("POST", "/portal"), 405, "a method the portal does not take")

        log("==> subscriptions: create, read, list, change, rotate, test")
        good = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                              body={"url": rx.base + "/ok/1", "events": ["call.ended"], "channel_id": "dom_1"}),
                      201, "create subscription")
        rx.secrets["/ok/1"] = good["secret"]
        expect(gw.call("GET", f"/api/v1/webhook-subscriptions/{good['id']}", bearer=pat), 200, "get subscription")
        listed = expect(gw.call("GET", "/api/v1/webhook-subscriptions", bearer=pat, query={"limit": "10"}), 200, "list")
        assert listed["pagination"]["total"] == 1, listed
        expect(gw.call("PATCH", f"/api/v1/webhook-subscriptions/{good['id']}", bearer=pat, body={"name": "CRM"}), 200, "patch")
        unchanged = expect(gw.call("PATCH", f"/api/v1/webhook-subscriptions/{good['id']}", bearer=pat, body={}), 200,
                           "an empty patch")
        assert unchanged["name"] == "CRM", unchanged
        rotated = expect(gw.call("POST", f"/api/v1/webhook-subscriptions/{good['id']}/rotate-secret", bearer=pat), 200, "rotate")
        rx.secrets["/ok/1"] = rotated["secret"]
        tested = expect(gw.call("POST", f"/api/v1/webhook-subscriptions/{good['id']}/test", bearer=pat), 200, "test")
        assert tested["success"], tested

        log("==> secrets at rest: data keys made, aged and replaced; the whole table scanned, only ciphertext")
        # A month later: the first write that seals makes a new data key (GenerateDataKey),
        # and opens what the old one sealed (Decrypt).
        self.age_current_data_key(31)
        credentials = {"headers": {"X-Api-Key": "header-value-secret-b7"},
                       "authentication": {"method": "basic", "username": "svc", "password": "basic-password-secret-b7"}}
        expect(gw.call("PATCH", f"/api/v1/webhook-subscriptions/{good['id']}", bearer=pat, body=credentials), 200,
               "credentials on the endpoint")
        # Another month; a new instance of rotate makes the next key.
        self.age_current_data_key(31)
        self.cold_start("RotateWebhookSubscriptionSecretFunction")
        rotated = expect(gw.call("POST", f"/api/v1/webhook-subscriptions/{good['id']}/rotate-secret", bearer=pat), 200,
                         "rotate under a new data key")
        rx.secrets["/ok/1"] = rotated["secret"]
        # A new instance of create finds that key current and unwraps it.
        self.cold_start("CreateWebhookSubscriptionFunction")
        second = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                                body={"url": rx.base + "/ok/1b", "events": ["never.published"]}), 201,
                        "create under the current data key")
        expect(gw.call("DELETE", f"/api/v1/webhook-subscriptions/{second['id']}", bearer=pat, query={"purge": "true"}), 204,
               "and gone again")
        secrets = [good["secret"], rotated["secret"], second["secret"], "header-value-secret-b7",
                   "basic-password-secret-b7"]
        items = [item for page in self.aws("dynamodb").get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
                 for item in page["Items"]]
        text = json.dumps(items)
        found = [secret for secret in secrets if secret in text]
        assert not found, f"secrets in plaintext in the table: {found}"
        sealed = text.count('"hpenc1:')
        keys = [i for i in items if i["pk"]["S"] == "DATAKEY" and i["sk"]["S"] != "CURRENT"]
        assert sealed >= 4 and len(keys) == 3, (sealed, keys)
        log(f"    {len(items)} items scanned: {sealed} sealed values, {len(keys)} data keys wrapped by KMS, "
            "no secret in plaintext")
        again = expect(gw.call("POST", f"/api/v1/webhook-subscriptions/{good['id']}/test", bearer=pat), 200, "test again")
        assert again["success"], again

        log("==> publish → SQS → deliver → a receiver verifying the signature (standardwebhooks)")
        published = expect(gw.call("POST", "/internal/v1/events", body={"account_id": account["id"], "event": "call.ended",
                                                                         "channel_id": "dom_1", "data": {"call_id": 1},
                                                                         "event_id": "evt_together_1"}), 202, "publish")
        assert published["subscriptions"] == 1, published
        self.feed("DeliveryQueue", "deliver", lambda: any(v[1] == "evt_together_1" for v in rx.verified), "the delivery")
        attempts = expect(gw.call("GET", f"/api/v1/webhook-subscriptions/{good['id']}/attempts", bearer=pat), 200, "attempts")
        assert any(a["event_id"] == "evt_together_1" and a["status_code"] == 204 for a in attempts["attempts"]), attempts
        replay = expect(gw.call("POST", "/internal/v1/events", body={"account_id": account["id"], "event": "call.ended",
                                                                      "channel_id": "dom_1", "data": {"call_id": 1},
                                                                      "event_id": "evt_together_1"}), 202, "replay")
        assert replay == published, (replay, published)
        unknown = expect(gw.call("POST", "/internal/v1/events", body={"account_id": str(uuid.uuid4()), "event": "call.ended",
                                                                       "data": {}}), 404, "publish to an unknown account")
        assert unknown["error"] == "not_found", unknown

        log("==> batch publish: each event on its own, in order, through the same function")
        batch = expect(gw.call("POST", "/internal/v1/events/batch", body={"events": [
            {"account_id": account["id"], "event": "call.ended", "channel_id": "dom_1", "data": {"call_id": 2},
             "event_id": "evt_together_batch"},
            {"account_id": account["id"], "event": "Not A Type", "data": {}},
            {"account_id": str(uuid.uuid4()), "event": "call.ended", "data": {}},
            {"account_id": account["id"], "event": "call.ended", "channel_id": "dom_1", "data": {"call_id": 1},
             "event_id": "evt_together_1"},
        ]}), 202, "batch publish")
        results = batch["results"]
        assert results[0] == {"event_id": "evt_together_batch", "subscriptions": 1}, results
        assert results[1]["error"] == "validation_error" and results[2]["error"] == "not_found", results
        assert results[3] == published, ("a repeat inside a batch is the same event", results, published)
        self.feed("DeliveryQueue", "deliver", lambda: any(v[1] == "evt_together_batch" for v in rx.verified),
                  "the batch's delivery")
        refused = expect(gw.call("POST", "/internal/v1/events/batch", body={"events": []}), 400, "an empty batch")
        assert refused["error"] == "validation_error", refused

        self.ingest(account["id"])
        self.delivery_control(gw)
        self.compute_per_delivery(gw, account["id"], pat)
        self.usage(gw, account["id"])

        log("==> a receiver that keeps failing: retries through SQS, then a failure record")
        # No rate limit: the write outage below must let the attempt through (a limited
        # subscription takes its turn with a write first, and would make no attempt).
        failing = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                                 body={"url": rx.base + "/down", "rate_limit": None}),
                         201, "create failing subscription")
        expect(gw.call("POST", "/internal/v1/events", body={"account_id": account["id"], "event": "sms.sent",
                                                             "data": {"n": 2}, "event_id": "evt_together_2"}), 202, "publish")

        def failures():
            return expect(gw.call("GET", "/api/v4/tasks/webhook_failures", bearer=pat), 200, "list failures")["webhook_failures"]

        self.feed("DeliveryQueue", "deliver", lambda: len(failures()) == 1, "the failure record")
        record = failures()[0]
        assert record["reason"] == "http_status: 500" and rx.failed.count("evt_together_2") == 2, (record, rx.failed)
        expect(gw.call("GET", f"/api/v4/tasks/webhook_failures/{record['id']}", bearer=pat), 200, "get failure")

        log("==> a DynamoDB outage seen by deliver: SQS redrives the task to the dead-letter queue")
        self.outage.mode = "all"
        expect(gw.call("POST", "/internal/v1/events", body={"account_id": account["id"], "event": "sms.sent",
                                                             "data": {"n": 3}, "event_id": "evt_together_3"}), 202, "publish")
        self.feed("DeliveryQueue", "deliver", self.dead_letters_waiting, "the redrive to the dead-letter queue", timeout=90)
        self.outage.mode = None
        self.drain_dead_letters(lambda: len(failures()) == 2, "the dead-letter record")
        assert any(f["reason"] == "delivery_error" for f in failures()), failures()

        log("==> an outage of DynamoDB's writes only: the attempt is made, its outcome reaches the")
        log("    dead-letter queue in a record task, and the dead-letter binary applies it")
        self.outage.mode = "writes"
        expect(gw.call("POST", "/internal/v1/events", body={"account_id": account["id"], "event": "sms.sent",
                                                             "data": {"n": 4}, "event_id": "evt_together_4"}), 202, "publish")
        self.feed("DeliveryQueue", "deliver", self.dead_letters_waiting, "the record task's redrive", timeout=120)
        self.outage.mode = None
        assert rx.failed.count("evt_together_4") == 1, rx.failed
        self.drain_dead_letters(lambda: not self.dead_letters_waiting(), "the record task")
        # Its writes included the next attempt, which now runs and exhausts the schedule.
        self.feed("DeliveryQueue", "deliver", lambda: len(failures()) == 3, "the exhausted record of evt_together_4")
        assert rx.failed.count("evt_together_4") == 2, rx.failed
        logged = expect(gw.call("GET", f"/api/v1/webhook-subscriptions/{failing['id']}/attempts", bearer=pat,
                                query={"limit": "100"}), 200, "attempts")
        numbers = sorted(a["attempt"] for a in logged["attempts"] if a["event_id"] == "evt_together_4")
        assert numbers == [1, 2], logged

        log("==> the customer fixes the endpoint; retrigger and recover resolve the records")
        expect(gw.call("PATCH", f"/api/v1/webhook-subscriptions/{failing['id']}", bearer=pat,
                       body={"url": rx.base + "/ok/2"}), 200, "fix the URL")
        rx.secrets["/ok/2"] = failing["secret"]
        expect(gw.call("POST", f"/api/v4/tasks/webhook_failures/{record['id']}/retrigger", bearer=pat), 200, "retrigger")
        recovered = expect(gw.call("POST", "/api/v4/tasks/webhook_failures/recover", bearer=pat,
                                   body={"webhook_id": failing["id"]}), 202, "recover")
        assert recovered["retriggered"] == 2, recovered

        def resolved(failure_id):
            answer = gw.call("GET", f"/api/v4/tasks/webhook_failures/{failure_id}", bearer=pat)
            return answer[1]["webhook_failure"]["status"] == "resolved"

        self.feed("DeliveryQueue", "deliver", lambda: all(resolved(f["id"]) for f in failures()), "the resolutions")

        log("==> the sweeper returns a retrigger left pending for 15 minutes")
        stale = int(time.time()) - 16 * 60
        self.aws("dynamodb").update_item(
            TableName=TABLE, Key={"pk": {"S": f"ACCOUNT#{account['id']}"}, "sk": {"S": f"FAIL#{record['id']}"}},
            UpdateExpression="SET #s = :p, pending_pk = :pk, pending_since = :t, updated_at = :t",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "pending"}, ":pk": {"S": "PENDING"}, ":t": {"N": str(stale)}})
        swept = self.function_of("sweep-pending-failures").invoke(scheduled_event("sweep"))
        assert swept == {"returned": 1}, swept
        lost = expect(gw.call("GET", f"/api/v4/tasks/webhook_failures/{record['id']}", bearer=pat), 200, "swept record")
        assert lost["webhook_failure"]["reason"] == "retrigger_lost", lost

        self.operator_events(gw, account["id"], pat)

        log("==> delete, reactivate, revoke")
        expect(gw.call("DELETE", f"/api/v1/webhook-subscriptions/{failing['id']}", bearer=pat), 204, "delete")
        expect(gw.call("POST", f"/api/v1/webhook-subscriptions/{failing['id']}/reactivate", bearer=pat), 200, "reactivate")
        expect(gw.call("DELETE", f"/internal/v1/accounts/{account['id']}/tokens/{token['id']}"), 204, "revoke")
        expect(gw.call("GET", "/api/v1/me", bearer=pat), 401, "a revoked token")
        expect(gw.call("DELETE", f"/internal/v1/accounts/{account['id']}/tokens/{session['id']}"), 204, "revoke the session")
        expect(gw.call("GET", "/api/v1/me", bearer=session["token"]), 401, "a revoked portal session")

        log("==> purge: a subscription erased with its attempts and failure records")
        pat = self.fresh_token(gw, account["id"])
        expect(gw.call("DELETE", f"/api/v1/webhook-subscriptions/{failing['id']}", bearer=pat, query={"purge": "true"}),
               204, "purge")
        expect(gw.call("GET", f"/api/v1/webhook-subscriptions/{failing['id']}", bearer=pat), 404, "a purged subscription")
        left = [f for f in failures() if f["webhook"]["id"] == failing["id"]]
        assert not left and failures(), ("its records are gone, the others' stay", left)

        self.catalogue(gw, good["id"], pat)
        self.erasure(gw)

        never = sorted(f.name for f in self.functions.values() if f.invocations == 0)
        if never:
            raise SystemExit(f"functions template.yaml declares that the flow never invoked: {never}")
        log(f"==> every one of the {len(self.functions)} functions ran from its shipped binary, under its own IAM policy")

        self.least_privilege()
        self.metrics_documents()
        self.errors_logged_once()
        self.compute_used()

        log("==> control: one permission taken away must make its function fail")
        iam = self.aws("iam")
        name = "CreateWebhookSubscriptionFunction"
        statements = self.statements_of(self.template.resources[name])
        # The subscription and the account's counter are written in one transaction: AWS
        # checks UpdateItem for the counter's item even though the call is TransactWriteItems.
        reduced = [dict(s, Action=[a for a in s["Action"] if a != "dynamodb:UpdateItem"]) for s in statements]
        iam.put_user_policy(UserName=name, PolicyName="template",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": reduced}))
        denied = gw.call("POST", "/api/v1/webhook-subscriptions", bearer=self.fresh_token(gw, account["id"]),
                         body={"url": rx.base + "/ok/3"})
        if denied[0] != 500:
            raise SystemExit(f"without dynamodb:UpdateItem creating a subscription should fail, got {denied}")
        log("without dynamodb:UpdateItem, create subscription answered 500 internal_error, as it would in AWS")

    def compute_per_delivery(self, gw, account_id, pat):
        """deliver's billed compute on the success path, measured: a batch publish of a
        hundred events, then their deliveries to a receiver that answers in 100 ms, handed over
        as the event-source mapping hands them — ten to an invocation, then the template's
        batch size — with the deliver process's CPU time beside the billed time (against moto:
        DynamoDB slower than in-region, one call at a time)."""
        rx, deliver, publish = self.receivers, self.function_of("deliver"), self.function_of("publish-event")
        template_batch = self.batch_size("DeliveryQueue")
        log(f"==> compute per delivery on the success path: batches of 10 and of {template_batch}, billed duration × memory")
        # No rate limit: the unthrottled path (delivery_control measures the throttled one).
        slow = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                              body={"url": rx.base + "/slow/compute", "events": ["compute.measured"],
                                    "rate_limit": None}), 201, "subscribe")
        rx.secrets["/slow/compute"] = slow["secret"]
        assumed = 0.150 * 256 / 1024 / 10
        for round_, batch_size in enumerate((10, template_batch)):
            ids = {f"evt_compute_{round_}_{i}" for i in range(100)}
            events = [{"account_id": account_id, "event": "compute.measured", "data": {"n": i}, "event_id": e}
                      for i, e in enumerate(sorted(ids))]
            published, publish_logged = publish.billed_seconds, publish.logged_bytes()
            expect(gw.call("POST", "/internal/v1/events/batch", body={"events": events}), 202, "batch publish")
            published, publish_logged = publish.billed_seconds - published, publish.logged_bytes() - publish_logged
            if round_ == 0:
                log(f"    the batch publish of {len(ids)} events (chosen ids: stored, marked fanned out), "
                    f"{published * 1000:,.0f} ms billed: {published * publish.memory / 1024 / len(ids) * 1e6:,.0f} "
                    f"µGB-s per event (the cost model assumes {0.020 * 256 / 1024 * 1e6:,.0f}); "
                    f"{publish_logged:,} bytes logged")
            seconds, invocations, cpu = deliver.billed_seconds, deliver.invocations, deliver.cpu_seconds()
            logged = deliver.logged_bytes()
            self.feed("DeliveryQueue", "deliver", lambda: ids <= {v[1] for v in rx.verified}, f"{len(ids)} deliveries",
                      batch_size=batch_size)
            seconds, invocations = deliver.billed_seconds - seconds, deliver.invocations - invocations
            cpu, logged = deliver.cpu_seconds() - cpu, deliver.logged_bytes() - logged
            per_delivery = seconds * deliver.memory / 1024 / len(ids)
            log(f"    batches of {batch_size}: {len(ids)} deliveries in {invocations} invocation(s), "
                f"{seconds * 1000:,.0f} ms billed: {per_delivery * 1e6:,.0f} µGB-s per delivery "
                f"(the cost model assumes {assumed * 1e6:,.0f}); "
                f"CPU {cpu * 1000 / len(ids):.2f} ms per delivery; "
                f"{logged:,} bytes logged ({logged / len(ids):,.0f} per delivery, what CloudWatch Logs ingests "
                f"besides Lambda's own lines)")

    def delivery_control(self, gw):
        """Two deliver processes at once, against moto's SQS (the delivery queue and the FIFO
        queue) and DynamoDB: a burst to an endpoint limited to 10 a second arrives within
        10 × (T + 1) in every window of T seconds (the limit is the store's, not a process's),
        and a fifo subscription's events, through a receiver that fails the first attempt of
        every third one, arrive in the order they were published (one through the ingest
        queue)."""
        log("==> delivery control: two deliver processes at once; a rate limit of 10/s, a FIFO subscription")
        rx, sqs = self.receivers, self.aws("sqs")
        # An account of its own: its failed first attempts stay out of the main account's usage.
        account_id = expect(gw.call("POST", "/internal/v1/accounts", body={"name": "Metered", "plan": "pro"}), 201,
                            "an account")["id"]
        pat = self.fresh_token(gw, account_id)
        zip_path, env, timeout, memory = self.environments["DeliverFunction"]
        twin = Function("DeliverFunction", "deliver", zip_path, env, timeout, memory, self.out, log_name="deliver-2")
        first = self.function_of("deliver")
        try:
            # A paced task may wait 3 s for its turn: while these run, the queue hides a task
            # as long as the template does (this run shortens it to redrive in seconds).
            standard = self.template.refs["DeliveryQueue"]
            sqs.set_queue_attributes(QueueUrl=standard, Attributes={"VisibilityTimeout": "180"})
            paced = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                                   body={"url": rx.base + "/ok/paced", "events": ["meter.reading"], "rate_limit": 10}),
                           201, "a subscription limited to 10 a second")
            assert paced["rate_limit"] == 10 and paced["ordering"] == "unordered", paced
            rx.secrets["/ok/paced"] = paced["secret"]
            ids = [f"evt_paced_{i:02d}" for i in range(60)]
            expect(gw.call("POST", "/internal/v1/events/batch", body={"events": [
                {"account_id": account_id, "event": "meter.reading", "data": {"n": i}, "event_id": e}
                for i, e in enumerate(ids)]}), 202, "a burst of 60")
            before = (first.messages, twin.messages, first.billed_seconds, twin.billed_seconds)
            self.feed_together("DeliveryQueue", [first, twin],
                               lambda: set(ids) <= {v[1] for v in rx.verified}, "the paced deliveries")
            arrivals = sorted(t for path, _, t in rx.arrivals if path == "/ok/paced")
            assert len(arrivals) == 60, f"each of the 60 once, got {len(arrivals)}"
            worst = []
            for window in (1.0, 1.5, 2.0, 3.0):
                most = max(sum(1 for t in arrivals if start <= t <= start + window) for start in arrivals)
                assert most <= 10 * (window + 1), f"{most} deliveries within {window} s, over the limit"
                worst.append(f"{most} in {window:g} s (≤ {10 * (window + 1):g})")
            spread = arrivals[-1] - arrivals[0]
            worked = (first.messages - before[0], twin.messages - before[1])
            assert all(worked), f"both processes took part: {worked}"
            billed = (first.billed_seconds - before[2]) + (twin.billed_seconds - before[3])
            log(f"    60 deliveries over {spread:.1f} s ({60 / spread:.1f}/s for a limit of 10), busiest windows: "
                f"{', '.join(worst)}; messages worked by each process: {worked[0]} and {worked[1]} "
                f"(deferrals included); {billed * 1000:,.0f} ms billed: "
                f"{billed * memory / 1024 / 60 * 1e6:,.0f} µGB-s per throttled delivery")
            sqs.set_queue_attributes(QueueUrl=standard, Attributes={"VisibilityTimeout": str(TEST_VISIBILITY_SECS)})

            ordered = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat,
                                     body={"url": rx.base + "/flaky/fifo", "events": ["order.updated"],
                                           "ordering": "fifo", "rate_limit": None}), 201, "a fifo subscription")
            assert ordered["ordering"] == "fifo" and ordered["rate_limit"] is None, ordered
            rx.secrets["/flaky/fifo"] = ordered["secret"]
            published = [f"evt_fifo_{i:02d}" for i in range(12)]
            expect(gw.call("POST", "/internal/v1/events/batch", body={"events": [
                {"account_id": account_id, "event": "order.updated", "data": {"n": i}, "event_id": e}
                for i, e in enumerate(published)]}), 202, "twelve ordered events")
            sqs.send_message(QueueUrl=self.template.refs["IngestQueue"], MessageBody=json.dumps(
                {"account_id": account_id, "event": "order.updated", "data": {"n": 12}, "event_id": "evt_fifo_12"}))
            published.append("evt_fifo_12")
            self.feed("IngestQueue", "ingest-events", lambda: self.queue_empty("IngestQueue"), "the ingested event")
            before = (first.messages, twin.messages, first.billed_seconds + twin.billed_seconds)
            self.feed_together("DeliveryFifoQueue", [first, twin],
                               lambda: set(published) <= {v[1] for v in rx.verified}, "the ordered deliveries")
            fifo_billed = first.billed_seconds + twin.billed_seconds - before[2]
            seen = [event_id for path, event_id, _ in rx.arrivals if path == "/flaky/fifo"]
            in_order = [e for i, e in enumerate(seen) if i == 0 or seen[i - 1] != e]
            assert in_order == published, f"attempts out of publish order: {seen}"
            retried = len(seen) - len(published)
            assert retried == 5, f"the first attempt of every third event failed and was retried: {seen}"
            worked = (first.messages - before[0], twin.messages - before[1])
            assert all(worked), f"both processes took part: {worked}"
            # A dead ordered task (one received a hundred times): the FIFO queue's dead-letter
            # queue is drained by the same scheduled run, into a delivery_error record.
            dead = {"account_id": account_id, "subscription_id": ordered["id"], "event_id": "evt_fifo_dead",
                    "attempt": 1, "kind": {"type": "scheduled"}, "in_order": {},
                    "event": {"event_type": "order.updated", "data": json.dumps({"n": 99}),
                              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
            sqs.send_message(QueueUrl=self.template.refs["DeliveryFifoDeadLetterQueue"], MessageBody=json.dumps(dead),
                             MessageGroupId=ordered["id"], MessageDeduplicationId="evt_fifo_dead")

            def dead_recorded():
                answer = gw.call("GET", "/api/v4/tasks/webhook_failures", bearer=pat)[1]
                return any(f["reason"] == "delivery_error" for f in answer["webhook_failures"])

            self.drain_dead_letters(dead_recorded, "the dead ordered task's record")
            log(f"    {len(published)} ordered events (one through the ingest queue), {retried} of them retried at the "
                f"head of their group: {len(seen)} attempts in publish order, worked by both processes {worked}; "
                f"{fifo_billed * 1000:,.0f} ms billed: {fifo_billed * memory / 1024 / len(seen) * 1e6:,.0f} µGB-s per "
                f"ordered attempt (one message an invocation)")
        finally:
            twin.stop()

    def feed_together(self, logical_queue, functions, until, what, timeout=90):
        """`logical_queue`'s event-source mapping with several processes of its function at
        once (Lambda's concurrency), each invoked in its own thread, until `until()`."""
        errors = []

        def work(function):
            try:
                self.feed(logical_queue, function.binary, until, what, timeout=timeout, function=function)
            except (SystemExit, FunctionFailed) as err:
                errors.append(err)

        threads = [threading.Thread(target=work, args=(f,)) for f in functions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def usage(self, gw, account_id):
        """The account's usage, added to by publish-event, ingest-events and deliver once per
        request or batch, read back through get-account-usage."""
        log("==> usage per account: counted by publish and deliver, read by get-account-usage")
        rx = self.receivers
        # Test deliveries (`webhook.test`) are not usage.
        delivered = sum(1 for path, _, body in rx.verified
                        if path in ("/ok/1", "/slow/compute") and body["event"] != "webhook.test")
        report = expect(gw.call("GET", f"/internal/v1/accounts/{account_id}/usage"), 200, "usage")
        totals = report["totals"]
        # Every event this account published so far went out once and was answered 2xx.
        assert totals["events_published"] >= 200 and totals["deliveries"] == delivered, (totals, delivered)
        assert totals["attempts"] == totals["deliveries"] and totals["failures"] == 0, totals
        assert totals["bytes_delivered"] > 0 and totals["estimated_cost_usd"] > 0, totals
        assert sum(h["attempts"] for h in report["hours"]) == totals["attempts"], report
        everything = expect(gw.call("GET", f"/internal/v1/accounts/{account_id}/usage",
                                    query={"from": "2000-01-01T00:00:00Z"}), 200, "usage since 2000")
        assert everything["totals"] == totals, (everything, totals)
        refused = expect(gw.call("GET", f"/internal/v1/accounts/{account_id}/usage", query={"to": "tomorrow"}), 400,
                         "a malformed end")
        assert refused["error"] == "validation_error", refused
        expect(gw.call("GET", f"/internal/v1/accounts/{uuid.uuid4()}/usage"), 404, "an unknown account's usage")
        log(f"    {totals['events_published']} events published, {totals['deliveries']} deliveries, "
            f"{totals['bytes_delivered']:,} bytes: ${totals['estimated_cost_usd']:.6f} estimated")

    def ingest(self, account_id):
        """Publishing without API Gateway: a message sent to the ingest queue and an entry put
        on the ingest bus (its rule, from the template, sends it to the queue) are published
        by ingest-events and delivered; an event for no account is kept in the ingest
        dead-letter queue with its error."""
        log("==> the ingest queue: SQS messages and an EventBridge PutEvents entry, published by ingest-events")
        rx, sqs = self.receivers, self.aws("sqs")

        def event(n, **extra):
            return {"account_id": account_id, "event": "call.ended", "channel_id": "dom_1", "data": {"call_id": n}, **extra}

        # A forged EventBridge event copied straight onto the queue: a source the stack does
        # not trust, from another AWS account. The function holds it to the rule's terms.
        forged = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "hookpost.publish", "source": "evil.corp",
                  "account": "210987654321", "time": "2026-12-07T09:00:00Z", "region": REGION, "resources": [],
                  "detail": event(13, event_id="evt_ingest_forged")}
        sqs.send_message_batch(QueueUrl=self.template.refs["IngestQueue"], Entries=[
            {"Id": "0", "MessageBody": json.dumps(event(10, event_id="evt_ingest_sqs"))},
            {"Id": "1", "MessageBody": json.dumps({**event(11), "account_id": str(uuid.uuid4())})},
            {"Id": "2", "MessageBody": json.dumps(forged)},
        ])
        trusted = self.ingest_pattern["source"][0]
        events = self.aws("events")
        put = events.put_events(Entries=[
            {"Source": trusted, "DetailType": "hookpost.publish",
             "Detail": json.dumps(event(12, event_id="evt_ingest_bus")), "EventBusName": self.ingest_bus},
            # Anyone else allowed PutEvents on the bus: their source is not the stack's, so the
            # rule sends it nowhere.
            {"Source": "acme.other-team", "DetailType": "hookpost.publish",
             "Detail": json.dumps(event(14, event_id="evt_ingest_untrusted")), "EventBusName": self.ingest_bus},
        ])
        assert put["FailedEntryCount"] == 0, put
        ingested = {"evt_ingest_sqs", "evt_ingest_bus"}
        self.feed("IngestQueue", "ingest-events", lambda: self.queue_empty("IngestQueue"), "the ingest queue")
        self.feed("DeliveryQueue", "deliver", lambda: ingested <= {v[1] for v in rx.verified}, "the ingested deliveries")
        delivered = {v[1] for v in rx.verified}
        assert not {"evt_ingest_forged", "evt_ingest_untrusted"} & delivered, "a forged event reached a receiver"
        kept = sqs.receive_message(QueueUrl=self.template.refs["IngestDeadLetterQueue"], MaxNumberOfMessages=10,
                                   MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
        errors = sorted((json.loads(m["MessageAttributes"]["hookpost-error"]["StringValue"]) for m in kept),
                        key=lambda e: e["error"])
        assert [e["error"] for e in errors] == ["not_found", "validation_error"], errors
        refused = sorted(issue["field"] for issue in errors[1]["issues"])
        assert refused == ["account", "source"], errors[1]
        log(f"    {len(ingested)} events delivered from the queue and the bus ({self.ingest_bus}, source {trusted}); "
            f"another source's PutEvents routed nowhere; kept in the ingest dead-letter queue: an unknown account "
            f"({errors[0]['error']}) and a forged envelope from another account and source ({', '.join(refused)})")

    def catalogue(self, gw, sub_id, pat):
        """The event-type catalogue (SPEC section 11): the operator's routes (event-types), the
        customers' read (list-event-types) and filter tester (test-event-filter); subscribing
        checks names; publish-event and ingest-events check data against the type's schema
        once their copy of the catalogue is no older than its staleness (10 s), and an ingested
        event its schema refuses is kept in the ingest dead-letter queue with its error. Types
        no other section publishes, so the rest of the run is unaffected."""
        log("==> the event-type catalogue: declared, read, tried, and checked at publish and ingest")
        schema = {"type": "object", "required": ["invoice_id", "amount"],
                  "properties": {"invoice_id": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}}}
        declared_at = time.time()
        expect(gw.call("PUT", "/internal/v1/event-types/invoice.paid",
                       body={"description": "An invoice was paid.", "schema": schema,
                             "example": {"invoice_id": "in_1", "amount": 1200}}), 201, "declare a type")
        expect(gw.call("PUT", "/internal/v1/event-types/invoice.voided", body={"description": "Voided."}), 201,
               "declare another")
        replaced = expect(gw.call("PUT", "/internal/v1/event-types/invoice.voided",
                                  body={"description": "Voided.", "deprecated": True}), 200, "replace it")
        assert replaced["deprecated"] is True, replaced
        got = expect(gw.call("GET", "/internal/v1/event-types/invoice.paid"), 200, "read a type")
        assert got["schema"] == schema, got
        listed = expect(gw.call("GET", "/internal/v1/event-types"), 200, "the catalogue")
        assert [t["name"] for t in listed["event_types"]] == ["invoice.paid", "invoice.voided"], listed
        expect(gw.call("DELETE", "/internal/v1/event-types/invoice.voided"), 204, "remove a type")
        expect(gw.call("GET", "/internal/v1/event-types/invoice.voided"), 404, "a removed type")
        theirs = expect(gw.call("GET", "/api/v1/event-types", bearer=pat), 200, "the customers' catalogue")
        assert [t["name"] for t in theirs["event_types"]] == ["invoice.paid"], theirs
        tried = expect(gw.call("POST", "/api/v1/event-filters/test", bearer=pat,
                               body={"filter": {"data": {"amount": [{"numeric": [">=", 1000]}]}},
                                     "event": {"event": "invoice.paid", "channel_id": None, "data": {"amount": 1200}}}),
                       200, "try a filter")
        assert tried == {"matches": True}, tried
        # update-webhook-subscription reads the catalogue here for the first time: fresh.
        refused = expect(gw.call("PATCH", f"/api/v1/webhook-subscriptions/{sub_id}", bearer=pat,
                                 body={"events": ["invoice.payed"]}), 400, "a name outside the catalogue")
        assert "invoice.payed" in refused["issues"][0]["message"], refused

        # A fresh account with nobody listening: what it publishes is delivered nowhere.
        quiet = expect(gw.call("POST", "/internal/v1/accounts", body={"name": "Ledger", "plan": "pro"}), 201, "account")
        bad = {"account_id": quiet["id"], "event": "invoice.paid", "data": {"invoice_id": "in_2", "amount": "12"}}
        while True:
            status, answer = gw.call("POST", "/internal/v1/events", body=bad)
            if status == 400:
                break
            waited = time.time() - declared_at
            assert status == 202 and waited < 12, ("publish never checked the new schema", status, answer, waited)
            time.sleep(0.5)
        seen_after = time.time() - declared_at
        assert answer["error"] == "validation_error" and answer["issues"][0]["field"] == "data/amount", answer

        # ingest-events' copy may be as old as the staleness allows: send once it cannot be.
        time.sleep(max(0.0, 10.5 - (time.time() - declared_at)))
        sqs = self.aws("sqs")
        sqs.send_message(QueueUrl=self.template.refs["IngestQueue"], MessageBody=json.dumps({**bad, "event_id": "evt_schema_refused"}))
        self.feed("IngestQueue", "ingest-events", lambda: self.queue_empty("IngestQueue"), "the ingested event")
        deadline, kept = time.time() + 30, None
        while kept is None and time.time() < deadline:
            for message in sqs.receive_message(QueueUrl=self.template.refs["IngestDeadLetterQueue"], MaxNumberOfMessages=10,
                                               MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", []):
                if "evt_schema_refused" in message["Body"]:
                    kept = message
        assert kept is not None, "the refused event is not in the ingest dead-letter queue"
        error = json.loads(kept["MessageAttributes"]["hookpost-error"]["StringValue"])
        assert error["error"] == "validation_error" and error["issues"][0]["field"] == "data/amount", error
        log(f"    publish checked the new schema {seen_after:.1f} s after it was declared (at most 10 s); "
            f"the ingested event it refuses is in the ingest dead-letter queue ({error['issues'][0]['field']}: "
            f"{error['issues'][0]['message']})")

    def erasure(self, gw):
        """An account with a bit of everything erased while one of its deliveries is on its way
        and another is queued: the answer counts what went, the delivery on its way logs no
        attempt, the queued one is never made, and a scan of the whole table finds nothing
        that names the account."""
        log("==> erasure: an account and everything it owns, during a delivery; its queued delivery stops")
        rx = self.receivers


        doomed = expect(gw.call("POST", "/internal/v1/accounts", body={"name": "Doomed", "plan": "pro"}), 201, "account")
        acc = doomed["id"]
        expect(gw.call("POST", f"/internal/v1/accounts/{acc}/channels", body={"channel_id": "dom_9", "channel_type": "domain"}),
               201, "channel")
        pat = self.fresh_token(gw, acc)
        expect(gw.call("POST", f"/internal/v1/accounts/{acc}/portal-sessions", body={}), 201, "portal session")
        sub = expect(gw.call("POST", "/api/v1/webhook-subscriptions", bearer=pat, body={"url": rx.base + "/ok/9"}), 201, "sub")
        rx.secrets["/ok/9"] = sub["secret"]
        expect(gw.call("POST", "/internal/v1/events", body={"account_id": acc, "event": "call.ended", "data": {},
                                                             "event_id": "evt_doomed_1"}), 202, "publish")
        self.feed("DeliveryQueue", "deliver", lambda: any(v[1] == "evt_doomed_1" for v in rx.verified), "the delivery")
        during = []

        def erase_before_answering():
            # Before the receiver answers evt_doomed_2: one more event queued, then the erasure.
            expect(gw.call("POST", "/internal/v1/events", body={"account_id": acc, "event": "call.ended", "data": {},
                                                                 "event_id": "evt_doomed_3"}), 202, "publish")
            during.append(expect(gw.call("DELETE", f"/internal/v1/accounts/{acc}"), 200, "erase the account"))

        rx.before_answer["/ok/9"] = erase_before_answering
        expect(gw.call("POST", "/internal/v1/events", body={"account_id": acc, "event": "call.ended", "data": {},
                                                             "event_id": "evt_doomed_2"}), 202, "publish")
        # Its subscription had a success a moment ago, so this one writes only its attempt-log
        # entry: the write that must find the subscription gone.
        self.feed("DeliveryQueue", "deliver", lambda: bool(during), "the delivery during the erasure")
        erased = during[0]
        removed = erased["removed"]
        assert erased["account_id"] == acc and removed["account"] == 1, erased
        assert (removed["tokens"], removed["portal_sessions"], removed["channels"], removed["subscriptions"]) == (1, 1, 1, 1), erased
        assert removed["events"] == 3 and removed["attempts"] == 1 and removed["rate_limit_counters"] >= 1, erased
        # The delivery queued before the erasure finds no subscription: no attempt is made.
        self.feed("DeliveryQueue", "deliver", lambda: self.queue_empty("DeliveryQueue"), "the queued delivery")
        assert not any(v[1] == "evt_doomed_3" for v in rx.verified), "a delivery was made after the erasure"
        expect(gw.call("GET", "/api/v1/me", bearer=pat), 401, "a token of an erased account")
        again = expect(gw.call("DELETE", f"/internal/v1/accounts/{acc}"), 200, "erase again")
        assert sum(again["removed"].values()) == 0, again
        left, scanned = [], 0
        for page in self.aws("dynamodb").get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
            for item in page["Items"]:
                scanned += 1
                if acc in json.dumps(item):
                    left.append((item["pk"], item["sk"]))
        if left:
            raise SystemExit(f"erasure left items of the account: {left}")
        log(f"    removed {sum(removed.values())} items; a scan of all {scanned} items left finds none of the account")

    def queue_empty(self, logical_queue):
        attributes = self.aws("sqs").get_queue_attributes(
            QueueUrl=self.template.refs[logical_queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in attributes.values()) == 0

    def metrics_documents(self):
        """deliver's stdout, as CloudWatch Logs gets it, carries embedded-metric-format
        documents in the hookpost namespace with the delivery metrics the dashboard draws."""
        documents = []
        with open(self.function_of("deliver").log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and "_aws" in doc:
                    documents.append(doc)
        names = {m["Name"] for d in documents for block in d["_aws"]["CloudWatchMetrics"] for m in block["Metrics"]}
        namespaces = {block["Namespace"] for d in documents for block in d["_aws"]["CloudWatchMetrics"]}
        wanted = {"hookpost_delivery_attempts", "hookpost_attempt_duration_seconds", "hookpost_failure_records"}
        if not documents or namespaces != {"hookpost"} or not wanted <= names:
            raise SystemExit(f"deliver wrote no usable metrics: {len(documents)} documents, {namespaces}, {sorted(names)}")
        log(f"==> metrics: deliver wrote {len(documents)} embedded-metric documents ({', '.join(sorted(names))})")

    def compute_used(self):
        """Lambda compute per function, measured: the input the cost model's Lambda line
        would take instead of an assumption."""
        log("==> Lambda compute this run used (billed duration × the template's memory)")
        for binary, invocations, seconds, gb_seconds in billed(self):
            per = f"{gb_seconds / invocations * 1e6:,.0f} µGB-s per invocation"
            messages = self.function_of(binary).messages
            if messages:
                per += f", {gb_seconds / messages * 1e6:,.0f} µGB-s per SQS message ({messages} messages)"
            log(f"    {binary:36} {invocations:4} invocations {seconds * 1000:9,.0f} ms  {gb_seconds:8.3f} GB-s  ({per})")

    def errors_logged_once(self):
        """No error is logged twice: the runtime's repeat of a handler's error is not written,
        and the authorizer's refusals (this run made several) are not errors at all."""
        repeated, refusals = [], []
        for f in self.functions.values():
            with open(f.log_path, encoding="utf-8", errors="replace") as log_file:
                for line in log_file:
                    if '"target":"lambda_runtime::layers::panic"' in line:
                        repeated.append((f.binary, line[:200]))
                    if f.binary == "authorizer" and '"level":"ERROR"' in line:
                        refusals.append(line[:200])
        if repeated or refusals:
            raise SystemExit(f"errors logged twice: {repeated[:3]}; refusals logged as errors: {refusals[:3]}")
        log("==> logs: every error once, with its cause; a refused token is no error")

    def least_privilege(self):
        """Every action the template grants a function must have been used by it in this run:
        a grant nothing uses is a permission an attacker gets for free."""
        with urllib.request.urlopen(self.moto.url + "/moto-api/hookpost/authorized") as res:
            used = json.load(res)
        unused = {}
        for name, key in self.access_keys.items():
            granted = {a for s in self.statements_of(self.template.resources[name]) for a in s["Action"]}
            left = sorted(granted - set(used.get(key, [])))
            if left:
                unused[name] = left
        if unused:
            raise SystemExit("template.yaml grants actions no call of this run needed (remove them, or make "
                             f"the run use them): {unused}")
        log("==> least privilege: every action template.yaml grants was used by its function")

    def drain_dead_letters(self, until, what, timeout=60):
        """The dead-letter function's schedule (a run a minute in AWS), played run after run
        until `until()`: each run drains both dead-letter queues the template names."""
        function = self.function_of("dead-letter")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if until():
                return
            answer = function.invoke(scheduled_event("dead-letters"))
            assert set(answer) == {"recorded", "kept"}, answer
            time.sleep(0.3)
        raise SystemExit(f"timed out waiting for {what}")

    def dead_letters_waiting(self):
        attributes = self.aws("sqs").get_queue_attributes(
            QueueUrl=self.template.refs["DeadLetterQueue"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return sum(int(v) for v in attributes.values()) > 0

    def fresh_token(self, gw, account_id):
        answer = gw.call("POST", f"/internal/v1/accounts/{account_id}/tokens",
                         body={"scopes": ["tasks.webhooks.read", "tasks.webhooks.manage"]})
        return answer[1]["token"]

    def stop(self):
        for f in self.functions.values():
            f.stop()
        self.moto.stop()


def billed(harness):
    """The functions' billed time in this run, as Lambda would bill it (from the event handed
    out to the answer, at the template's memory): measured against moto and loopback
    receivers, so slower per call than DynamoDB in-region, not assumed."""
    rows = sorted(harness.functions.values(), key=lambda f: -f.gb_seconds())
    return [(f.binary, f.invocations, f.billed_seconds, f.gb_seconds()) for f in rows if f.invocations]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lambda-dir", required=True)
    parser.add_argument("--out", default=os.path.join(ROOT, "target/binaries-together"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    harness = Harness(args.lambda_dir, args.out)
    failed = True
    try:
        harness.create_resources()
        harness.start_functions(args.lambda_dir)
        harness.moto.enforce()
        harness.run()
        failed = False
    except (SystemExit, AssertionError, FunctionFailed) as err:
        log(f"binaries together: FAILED: {err}")
        for f in harness.functions.values():
            with open(f.log_path, errors="replace") as logf:
                tail = logf.read()[-1500:]
            if tail.strip():
                log(f"--- {f.binary} ---\n{tail}")
    finally:
        harness.stop()
    if failed:
        sys.exit(1)
    log("binaries together: passed")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
