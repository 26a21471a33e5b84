"""template.yaml as the test scripts read it: CloudFormation's short tags, the functions and
what each declares, parameters with their defaults, and the table and queues created on a
DynamoDB/SQS-compatible server (moto) as the template defines them.

Used by scripts/binaries_together.py, scripts/sam_events.py and scripts/sam_local_check.py.
"""

import json
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "us-east-1"
# moto's account, which the queue and table ARNs it hands out carry.
ACCOUNT = "123456789012"
STACK = "hookpost"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK}
INTRINSICS = {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Join"}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, read as their long forms."""


def _construct(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            return {name: value.split(".", 1) if name == "Fn::GetAtt" else value}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}

    return construct


for _tag, _name in [("!Ref", "Ref"), ("!GetAtt", "Fn::GetAtt"), ("!Sub", "Fn::Sub"), ("!If", "Fn::If"),
                    ("!Equals", "Fn::Equals"), ("!Not", "Fn::Not"), ("!Join", "Fn::Join"), ("!Select", "Fn::Select"),
                    ("!GetAZs", "Fn::GetAZs"), ("!Split", "Fn::Split"), ("!And", "Fn::And"), ("!Or", "Fn::Or"),
                    ("!Condition", "Condition"), ("!FindInMap", "Fn::FindInMap"), ("!ImportValue", "Fn::ImportValue")]:
    CfnLoader.add_constructor(_tag, _construct(_name))


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


class Template:
    def __init__(self, path=os.path.join(ROOT, "template.yaml"), parameter_overrides=None):
        self.doc = load(path)
        self.resources = self.doc["Resources"]
        declared = self.doc.get("Parameters", {})
        self.parameters = {k: str(v.get("Default", "")) for k, v in declared.items()}
        self.parameters.update(parameter_overrides or {})
        # A CommaDelimitedList parameter's Ref is a list.
        self.list_parameters = {k for k, v in declared.items() if v.get("Type") == "CommaDelimitedList"}
        self.conditions = self.doc.get("Conditions", {})
        self.globals = self.doc.get("Globals", {}).get("Function", {})
        self.refs, self.attrs = {}, {}

    def functions(self):
        """(logical id, resource) of every function."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::Serverless::Function":
                yield logical_id, resource

    def binary(self, logical_id):
        return self.resources[logical_id]["Metadata"]["BuildProperties"]["Binary"]

    def variables(self, logical_id):
        """The environment block a function gets: the globals', then its own."""
        own = (self.resources[logical_id]["Properties"].get("Environment") or {}).get("Variables") or {}
        return {**(self.globals.get("Environment") or {}).get("Variables", {}), **own}

    def declared_variables(self):
        """Every variable some function declares: all `sam local --env-vars` may set."""
        declared = set()
        for logical_id, _ in self.functions():
            declared |= set(self.variables(logical_id))
        return declared

    def events(self, logical_id):
        return list((self.resources[logical_id]["Properties"].get("Events") or {}).values())

    def resolve(self, value):
        """Intrinsic functions of the forms the template uses, against what was created."""
        if isinstance(value, dict) and len(value) == 1:
            (kind, arg), = value.items()
            if kind == "Ref":
                if arg in PSEUDO:
                    return PSEUDO[arg]
                if arg in self.list_parameters:
                    return [item.strip() for item in self.parameters[arg].split(",")]
                if arg in self.parameters:
                    return self.parameters[arg]
                return self.refs[arg]
            if kind == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.holds(condition) else when_false)
            if kind == "Fn::Join":
                separator, items = arg
                items = self.resolve(items)
                return separator.join(self.resolve(item) for item in items)
            if kind == "Fn::GetAtt":
                return self.attrs[".".join(arg)]
            if kind == "Fn::Sub":
                text = arg
                for key, val in {**PSEUDO, **self.parameters, **self.attrs, **self.refs}.items():
                    text = text.replace("${" + key + "}", val)
                if "${" in text:
                    raise SystemExit(f"cannot resolve {value}")
                return text
            raise SystemExit(f"the test scripts do not know {kind}")
        if isinstance(value, (int, float)):
            return str(value)
        return value

    def resolve_deep(self, value):
        """`value` with every intrinsic inside it resolved (an event pattern, say)."""
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in INTRINSICS:
            return self.resolve(value)
        if isinstance(value, dict):
            return {k: self.resolve_deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_deep(v) for v in value]
        return value

    def holds(self, name):
        """Whether the template's condition `name` holds, for the forms it uses."""
        def evaluate(expr):
            (kind, arg), = expr.items()
            if kind == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if kind == "Fn::Not":
                return not evaluate(arg[0])
            if kind == "Condition":
                return self.holds(arg)
            raise SystemExit(f"the test scripts do not know the condition {kind}")
        return evaluate(self.conditions[name])

    def create_table(self, ddb, name):
        """The table as the template defines it (keys, indexes, TTL); nothing if it exists."""
        props = self.resources["Table"]["Properties"]
        if name not in ddb.list_tables()["TableNames"]:
            stream = props.get("StreamSpecification")
            extra = {"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}
            ddb.create_table(TableName=name, BillingMode=props["BillingMode"], KeySchema=props["KeySchema"],
                             AttributeDefinitions=props["AttributeDefinitions"],
                             GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []), **extra)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        elif props.get("StreamSpecification") and "LatestStreamArn" not in ddb.describe_table(TableName=name)["Table"]:
            # A table made before it had a stream (or by hookpost-local's older versions).
            ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, **props["StreamSpecification"]})
        self.refs["Table"] = name
        self.attrs["Table.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        stream_arn = ddb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
        if stream_arn:
            self.attrs["Table.StreamArn"] = stream_arn

    def create_keys(self, kms):
        """The template's KMS keys (those its conditions create), as moto's KMS makes them."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::KMS::Key":
                continue
            if "Condition" in resource and not self.holds(resource["Condition"]):
                continue
            props = resource["Properties"]
            key = kms.create_key(KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                                 KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
                                 Description=f"{logical_id} (test)")["KeyMetadata"]
            if props.get("EnableKeyRotation"):
                kms.enable_key_rotation(KeyId=key["KeyId"])
            self.refs[logical_id] = key["KeyId"]
            self.attrs[f"{logical_id}.Arn"] = key["Arn"]

    def create_queues(self, sqs, names, visibility_secs=None):
        """The template's queues under `names` ({logical id: queue name}), dead-letter queues
        first (the others name them in their redrive policy). `visibility_secs` replaces the
        template's visibility timeouts (a test's redrive in seconds, not minutes)."""
        queues = [k for k, v in self.resources.items() if v["Type"] == "AWS::SQS::Queue"]
        for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in self.resources[q]["Properties"]):
            props = dict(self.resources[logical_id]["Properties"])
            attributes = {}
            redrive = props.pop("RedrivePolicy", None)
            if redrive:
                attributes["RedrivePolicy"] = json.dumps({
                    "deadLetterTargetArn": self.resolve(redrive["deadLetterTargetArn"]),
                    "maxReceiveCount": str(redrive["maxReceiveCount"])})
            if "VisibilityTimeout" in props:
                attributes["VisibilityTimeout"] = str(visibility_secs or props["VisibilityTimeout"])
            if "MessageRetentionPeriod" in props:
                attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
            name = names[logical_id]
            created = {}
            if props.get("FifoQueue"):
                # As CloudFormation names a FIFO queue: with the .fifo suffix SQS requires.
                name = name if name.endswith(".fifo") else f"{name}.fifo"
                created["FifoQueue"] = "true"
                for attribute in ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"):
                    if attribute in props:
                        value = props[attribute]
                        created[attribute] = str(value).lower() if isinstance(value, bool) else str(value)
            url = sqs.create_queue(QueueName=name, Attributes=created)["QueueUrl"]
            if attributes:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
            self.refs[logical_id] = url
            self.attrs[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            self.attrs[f"{logical_id}.QueueName"] = name
            self.attrs[f"{logical_id}.QueueUrl"] = url


def stream_mapping(template):
    """The function the template maps to the table's stream, and its filter patterns."""
    for logical_id, resource in template.functions():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "DynamoDB":
                filters = event["Properties"].get("FilterCriteria", {}).get("Filters", [])
                return logical_id, [json.loads(f["Pattern"]) for f in filters]
    raise SystemExit("template.yaml maps no function to the table's stream")


def matches(pattern, event):
    """An EventBridge-style pattern as Lambda's event filtering applies it: every key of the
    pattern present in the event, a list naming the values a leaf may have."""
    for key, want in pattern.items():
        if key not in event:
            return False
        have = event[key]
        if isinstance(want, dict):
            if not isinstance(have, dict) or not matches(want, have):
                return False
        elif have not in want:
            return False
    return True


def stream_records(streams, arn, positions):
    """Every record of the stream after `positions` ({shard id: last sequence number read},
    updated), as Lambda's DynamoDB event carries them."""
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        after = positions.get(shard["ShardId"])
        start = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                 else {"ShardIteratorType": "TRIM_HORIZON"})
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **start)["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                positions[shard["ShardId"]] = record["dynamodb"]["SequenceNumber"]
                change = dict(record["dynamodb"])
                change["ApproximateCreationDateTime"] = change["ApproximateCreationDateTime"].timestamp()
                records.append({**{k: record[k] for k in ("eventID", "eventName", "eventVersion", "eventSource",
                                                          "awsRegion")},
                                "dynamodb": change, "eventSourceARN": arn})
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records
