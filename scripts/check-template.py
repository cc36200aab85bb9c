"""Least-privilege and no-lost-alarm checks on template.yaml that cfn-lint does not make.

Run by scripts/test with the .venv Python (cfn-lint's YAML loader understands !Ref, !Sub, ...).
"""
import sys
from pathlib import Path

def on_star_allowed(actions):
    """What may be granted on `Resource: "*"`: Describe* reads, and cloudwatch:GetMetricWidgetImage or
    logs:GetQueryResults alone (neither has resource-level permissions: AWS's service authorization reference
    lists no resource type for them, so "*" is the only way to grant them; one draws metrics, the other reads
    a query's results, and neither changes anything)."""
    if actions in (["cloudwatch:GetMetricWidgetImage"], ["logs:GetQueryResults"]):
        return True
    return all(a.split(":")[1].startswith("Describe") for a in actions)


check_self = [
    (on_star_allowed(["cloudwatch:GetMetricWidgetImage"]), "GetMetricWidgetImage alone on * must be allowed"),
    (not on_star_allowed(["cloudwatch:GetMetricWidgetImage", "cloudwatch:PutMetricData"]), "another action beside GetMetricWidgetImage on * must be refused"),
    (not on_star_allowed(["cloudwatch:DisableAlarmActions"]), "a write on * must be refused"),
    (not on_star_allowed(["logs:GetQueryResults", "logs:StartQuery"]), "StartQuery on * must be refused"),
]


from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
template, errors = decode("template.yaml")
if errors:
    sys.exit(f"template.yaml does not parse: {errors}")
resources = template["Resources"]
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


for ok, message in check_self:
    check(ok, f"check-template self-test: {message}")


def statements(fn):
    for policy in fn["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            for st in policy.get("Statement", []):
                # A statement that exists only under a condition: !If [cond, statement, AWS::NoValue].
                if "Fn::If" in st:
                    st = st["Fn::If"][1]
                yield st


for logical, expected_binary, name_suffix in [
    ("AlarmToSlackFunction", "alarm-to-slack", "-alarm-to-slack"),
    ("SlackCommandFunction", "slack-command", "-slack-command"),
]:
    fn = resources[logical]
    props = fn["Properties"]
    check(fn["Metadata"]["BuildMethod"] == "rust-cargolambda", f"{logical}: not built by cargo-lambda")
    check(fn["Metadata"]["BuildProperties"]["Binary"] == expected_binary, f"{logical}: wrong binary")
    check(props["LoggingConfig"]["LogFormat"] == "JSON", f"{logical}: logs are not JSON")
    # The metrics lines carry no level: Lambda counts them INFO, and a filter above INFO would drop them.
    check(props["LoggingConfig"].get("ApplicationLogLevel") in ("INFO", "DEBUG", "TRACE"), f"{logical}: application logs filtered above INFO drop the metrics lines")
    check(str(props.get("FunctionName", {}).get("Fn::Sub", "")).endswith(name_suffix), f"{logical}: name is not fixed")
    for st in statements(fn):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        for action in actions:
            check(action != "*" and not action.endswith(":*"), f"{logical}: wildcard action {action}")
        if "kms:Decrypt" in actions:
            cond = st.get("Condition", {}).get("StringEquals", {})
            ctx = cond.get("kms:EncryptionContext:LambdaFunctionName", {})
            check(str(ctx.get("Fn::Sub", "")).endswith(name_suffix), f"{logical}: kms:Decrypt not bound to its own name")
            check(st["Resource"] == {"Ref": "KmsKeyArn"}, f"{logical}: kms:Decrypt not limited to the key")
        if "autoscaling:SetDesiredCapacity" in actions:
            cond = st.get("Condition", {}).get("StringEquals", {})
            check(cond.get("autoscaling:ResourceTag/chatops:scale") == "enabled", f"{logical}: scaling not limited by tag")
            check(len(actions) == 1, f"{logical}: other actions share the tag-conditioned statement")
        if st.get("Resource") == "*":
            check(on_star_allowed(actions), f"{logical}: {actions} on *")

# kms:Decrypt lives in a policy per function that exists only with a KmsKeyArn, bound to that function's
# own name as encryption context; no inline statement of a function may decrypt.
for policy, role, name_suffix in [
    ("AlarmToSlackDecryptPolicy", "AlarmToSlackFunctionRole", "-alarm-to-slack"),
    ("SlackCommandDecryptPolicy", "SlackCommandFunctionRole", "-slack-command"),
]:
    res = resources[policy]
    check(res.get("Condition") == "HasKmsKey", f"{policy}: exists without a KMS key")
    check(res["Properties"]["Roles"] == [{"Ref": role}], f"{policy}: not on {role} alone")
    for st in res["Properties"]["PolicyDocument"]["Statement"]:
        check(st["Action"] == "kms:Decrypt", f"{policy}: more than kms:Decrypt")
        ctx = st.get("Condition", {}).get("StringEquals", {}).get("kms:EncryptionContext:LambdaFunctionName", {})
        check(str(ctx.get("Fn::Sub", "")).endswith(name_suffix), f"{policy}: kms:Decrypt not bound to its own name")
        check(st["Resource"] == {"Ref": "KmsKeyArn"}, f"{policy}: kms:Decrypt not limited to the key")

# The stack's secret: each function reads it, and only it.
for logical in ["AlarmToSlackFunction", "SlackCommandFunction"]:
    env = resources[logical]["Properties"]["Environment"]["Variables"]
    arn = env.get("SLACK_SECRETS_ARN", {})
    check(isinstance(arn, dict) and arn.get("Fn::If", [None, None])[1] == {"Ref": "SlackSecrets"}, f"{logical}: SLACK_SECRETS_ARN is not the stack's secret")
    reads = [st for st in statements(resources[logical]) if "secretsmanager:GetSecretValue" in str(st["Action"])]
    check(len(reads) == 1 and reads[0]["Resource"] == {"Ref": "SlackSecrets"}, f"{logical}: reads secrets beyond the stack's")
    check(all("kms:" not in str(st["Action"]) for st in statements(resources[logical])), f"{logical}: inline KMS statement")

for logical, res in resources.items():
    if res["Type"] != "AWS::IAM::Policy":
        continue
    for st in res["Properties"]["PolicyDocument"]["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        check(all(a != "*" and not a.endswith(":*") for a in actions), f"{logical}: wildcard action")
        check(st.get("Resource") != "*", f"{logical}: {actions} on *")
        if any(a.startswith("codedeploy:") for a in actions):
            check("deploymentgroup:" in str(st["Resource"]), f"{logical}: CodeDeploy not limited to deployment groups")

# The state table: on demand, TTL on expires_at, point-in-time recovery; only alarm-to-slack may write, only
# the actions it uses, only on that table and its own key prefixes.
table = resources["StateTable"]["Properties"]
check(table.get("BillingMode") == "PAY_PER_REQUEST", "state table is not on demand")
check(table.get("TimeToLiveSpecification") == {"AttributeName": "expires_at", "Enabled": True}, "state table TTL is not on expires_at")
check(table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, "state table has no PITR")
# One index, the sparse `open` one (shared/src/state/open.rs), as the tests create it (tests/src/moto.rs reads
# the same constants): on open_in / open_sk, projecting everything.
OPEN_INDEX_ARN = {"Fn::Sub": "${StateTable.Arn}/index/open"}
index_grants = []
indexes = table.get("GlobalSecondaryIndexes", [])
check(len(indexes) == 1 and indexes[0]["IndexName"] == "open", f"state table indexes {indexes}")
check(indexes[0]["KeySchema"] == [{"AttributeName": "open_in", "KeyType": "HASH"}, {"AttributeName": "open_sk", "KeyType": "RANGE"}], f"open index keys {indexes[0]['KeySchema']}")
check(indexes[0]["Projection"] == {"ProjectionType": "ALL"}, f"open index projection {indexes[0]['Projection']}")
open_rs = (ROOT / "shared/src/state/open.rs").read_text()
for const, value in [("OPEN_INDEX", "open"), ("OPEN_PARTITION", "open_in"), ("OPEN_SORT", "open_sk")]:
    check(f'pub const {const}: &str = "{value}";' in open_rs, f"shared/src/state/open.rs: {const} is not {value!r} as in the template")
check(all(c in (ROOT / "tests/src/moto.rs").read_text() for c in ["OPEN_INDEX", "OPEN_PARTITION", "OPEN_SORT"]), "tests/src/moto.rs does not create the open index")
alarm_env = resources["AlarmToSlackFunction"]["Properties"]["Environment"]["Variables"]
check(alarm_env.get("STATE_TABLE") == {"Ref": "StateTable"}, "alarm-to-slack: STATE_TABLE is not the state table")
for logical, expected in [
    ("AlarmToSlackFunction", {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query"}),
    ("SlackCommandFunction", {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}),
]:
    granted = set()
    for st in statements(resources[logical]):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        ddb = {a for a in actions if a.startswith("dynamodb:")}
        if ddb and st["Resource"] == OPEN_INDEX_ARN:
            # The open index: Query alone, slack-command alone (/status); it holds only open items.
            check(logical == "SlackCommandFunction" and actions == ["dynamodb:Query"], f"{logical}: {actions} on the open index")
            index_grants.append(logical)
            continue
        if ddb:
            granted |= ddb
            check(st["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}, f"{logical}: DynamoDB beyond the state table")
            keys = st.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            check(bool(keys), f"{logical}: DynamoDB access not limited to its own key prefixes")
    check(granted == expected, f"{logical}: DynamoDB actions {sorted(granted)}, expected {sorted(expected)}")
check(index_grants == ["SlackCommandFunction"], f"open index grants {index_grants}")

# alarm-to-slack's own items: notification claims and lifecycles; the storm items (pacers, counts, digests),
# which alone may be queried; nothing else.
alarm_grants = {}
for st in statements(resources["AlarmToSlackFunction"]):
    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    if any(a.startswith("dynamodb:") for a in actions):
        keys = tuple(st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        alarm_grants[keys] = set(actions)
check(alarm_grants.get(("notification#*", "lifecycle#*")) == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem"}, f"alarm-to-slack: notification#/lifecycle# grants {alarm_grants}")
check(alarm_grants.get(("pace#*", "storm#*", "digest#*")) == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"}, f"alarm-to-slack: storm grants {alarm_grants}")
# The changes (recent changes before an alarm): read by Query, and the CodeDeploy deployments it shows written.
check(alarm_grants.get(("changes#*",)) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, f"alarm-to-slack: changes# grants {alarm_grants}")
# The reports' history: episodes (and the changes it records), put once each, never read here.
check(alarm_grants.get(("history#*",)) == {"dynamodb:PutItem"}, f"alarm-to-slack: history# grants {alarm_grants}")
check(len(alarm_grants) == 4, f"alarm-to-slack: DynamoDB key prefixes {sorted(alarm_grants)}")
for var, param in [("STORM_DIGEST", "StormDigest"), ("STORM_THRESHOLD", "StormThreshold"), ("STORM_WINDOW_SECONDS", "StormWindowSeconds"), ("STORM_QUIET_SECONDS", "StormQuietSeconds")]:
    check(alarm_env.get(var) == {"Ref": param}, f"alarm-to-slack: {var} is not the parameter {param}")

# Deploy by mention: slack-command reads only the mapping secret, and writes only event#/deploy# items, through
# a policy that exists only when deploys are configured.
deploy = resources["SlackCommandDeployPolicy"]
check(deploy.get("Condition") == "HasDeploys", "deploy policy exists without deploys configured")
granted = set()
for st in deploy["Properties"]["PolicyDocument"]["Statement"]:
    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    granted |= set(actions)
    if any(a.startswith("secretsmanager:") for a in actions):
        check(actions == ["secretsmanager:GetSecretValue"] or actions == "secretsmanager:GetSecretValue", "deploy: Secrets Manager beyond GetSecretValue")
        check(st["Resource"] == {"Ref": "DeployTargetsSecretArn"}, "deploy: Secrets Manager beyond the mapping secret")
    if any(a.startswith("dynamodb:") for a in actions):
        check(st["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}, "deploy: DynamoDB beyond the state table")
        keys = st.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        check(keys == ["event#*", "deploy#*"], f"deploy: DynamoDB key prefixes {keys}")
check(granted == {"secretsmanager:GetSecretValue", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, f"deploy: actions {sorted(granted)}")
# slack-command's own items: replay hashes are only put; approval requests put, read and updated, only with a
# policy; nothing else.
by_prefix = {}
INCIDENT_KEYS = ("counter#incident", "incident#*", "incidents#open", "incident-channel#*", "declare#*")
for st in resources["SlackCommandFunction"]["Properties"]["Policies"][0]["Statement"]:
    conditional = "Fn::If" in st
    st_if = [st["Fn::If"][0]] if conditional else [None]
    st = st["Fn::If"][1] if conditional else st
    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    if any(a.startswith("dynamodb:") for a in actions) and st["Resource"] != OPEN_INDEX_ARN:
        keys = tuple(st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        by_prefix[keys] = (set(actions), conditional and st is not None)
        if keys == ("approval#*",):
            check(conditional, "slack-command: approval items granted without a policy")
        if keys == INCIDENT_KEYS:
            check(conditional and st_if[0] == "HasIncidents", f"slack-command: {keys} granted without incidents configured")
        if keys == ("lifecycle#*",):
            # On an alert's record only what was done from its message: the incident's line, the acknowledgement.
            attributes = st["Condition"]["ForAllValues:StringLike"].get("dynamodb:Attributes")
            check(attributes == ["pk", "sk", "incident", "ack_by", "ack_at", "alarm_since", "mute_id", "mute_by", "mute_until", "mute_ok", "silence_id", "silence_by", "silence_until", "open_in", "open_sk"], f"slack-command: lifecycle# attributes {attributes}")
check(by_prefix.get(("replay#*",), (None,))[0] == {"dynamodb:PutItem"}, f"slack-command: replay# grants {by_prefix}")
check(by_prefix.get(("approval#*",), (None,))[0] == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}, f"slack-command: approval# grants {by_prefix}")
check(by_prefix.get(INCIDENT_KEYS, (None,))[0] == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}, f"slack-command: incident grants {by_prefix}")
check(by_prefix.get(("lifecycle#*",), (None,))[0] == {"dynamodb:UpdateItem"}, f"slack-command: lifecycle# grants {by_prefix}")
check(by_prefix.get(("changes#*",), (None,))[0] == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, f"slack-command: changes# grants {by_prefix}")
check(by_prefix.get(("history#*",), (None,))[0] == {"dynamodb:PutItem", "dynamodb:Query"}, f"slack-command: history# grants {by_prefix}")
check(set(by_prefix) == {("replay#*",), ("approval#*",), INCIDENT_KEYS, ("lifecycle#*",), ("changes#*",), ("history#*",)}, f"slack-command: DynamoDB key prefixes {sorted(by_prefix)}")
# Alarm graphs: GetMetricWidgetImage alone, on "*" (it has no resource-level permissions), only with MetricGraphs.
graph_grants = [st for st in resources["AlarmToSlackFunction"]["Properties"]["Policies"][0]["Statement"] if "GetMetricWidgetImage" in str(st)]
check(len(graph_grants) == 1 and graph_grants[0].get("Fn::If", [None])[0] == "DrawsGraphs", f"alarm-to-slack: graph grant {graph_grants}")
check(alarm_env.get("METRIC_GRAPHS") == {"Ref": "MetricGraphs"}, "alarm-to-slack: METRIC_GRAPHS is not the parameter")
# [Show logs]: StartQuery on log groups (the stack's account unless cross-account observability), GetQueryResults alone on *.
log_grants = [st for st in resources["SlackCommandFunction"]["Properties"]["Policies"][0]["Statement"] if "logs:" in str(st)]
check(len(log_grants) == 2 and all(st.get("Fn::If", [None])[0] == "ShowsLogs" for st in log_grants), f"slack-command: logs grants {log_grants}")
for st in log_grants:
    inner = st["Fn::If"][1]
    if inner["Action"] == "logs:StartQuery":
        own = inner["Resource"]["Fn::If"][2]
        check(own == {"Fn::Sub": "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:*"}, f"slack-command: StartQuery on {own}")
    else:
        check(inner["Action"] == "logs:GetQueryResults" and inner["Resource"] == "*", f"slack-command: logs grant {inner}")
for logical in ["AlarmToSlackFunction", "SlackCommandFunction"]:
    env = resources[logical]["Properties"]["Environment"]["Variables"]
    check(env.get("ALARM_LOG_GROUPS") == {"Ref": "AlarmLogGroups"} and env.get("SHOW_LOGS") == {"Ref": "ShowLogs"}, f"{logical}: ALARM_LOG_GROUPS / SHOW_LOGS are not the parameters")
command_env = resources["SlackCommandFunction"]["Properties"]["Environment"]["Variables"]
check(command_env.get("CHATOPS_POLICY") == {"Ref": "ChatOpsPolicy"}, "slack-command: CHATOPS_POLICY is not the parameter")
check(command_env.get("STATE_TABLE") == {"Ref": "StateTable"}, "slack-command: STATE_TABLE is not the state table")
for var, param in [("INCIDENTS_CHANNEL", "IncidentsChannel"), ("INCIDENT_RESPONDERS", "IncidentResponders"), ("MUTABLE_ALARMS", "MutableAlarms"), ("DEPLOY_TIMEOUT_MINUTES", "DeployTimeoutMinutes")]:
    check(command_env.get(var) == {"Ref": param}, f"slack-command: {var} is not the parameter {param}")
routes = {e["Properties"]["Path"] for e in resources["SlackCommandFunction"]["Properties"]["Events"].values()}
check({"/slack/events", "/deploy/notify"} <= routes, f"slack-command routes {sorted(routes)}")

on_failure = resources["AlarmToSlackFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
check(on_failure["Type"] == "SQS", "alarm-to-slack has no SQS on-failure destination")
alarmed = {r["Properties"]["MetricName"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"}
check({"ApproximateNumberOfMessagesVisible", "Errors"} <= alarmed, "missing alarms on queue depth or errors")

# Schedules: slack-command makes them in the stack's group only, passes only the scheduler's role, and only
# to the scheduler; that role may invoke slack-command and nothing else; muting touches only the alarms
# MutableAlarms names, and only when it names some.
command_statements = resources["SlackCommandFunction"]["Properties"]["Policies"][0]["Statement"]
by_action = {}
for st in command_statements:
    conditional = "Fn::If" in st
    body = st["Fn::If"][1] if conditional else st
    for action in body["Action"] if isinstance(body["Action"], list) else [body["Action"]]:
        by_action[action] = (body, st["Fn::If"][0] if conditional else None)
for action in ["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"]:
    body, _ = by_action.get(action, ({}, None))
    check("schedule/${ScheduleGroup}/*" in str(body.get("Resource")), f"slack-command: {action} not limited to the stack's schedule group: {body.get('Resource')}")
body, _ = by_action.get("iam:PassRole", ({}, None))
check(body.get("Resource") == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}, f"slack-command: iam:PassRole beyond the scheduler's role: {body.get('Resource')}")
check(body.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService") == "scheduler.amazonaws.com", "slack-command: iam:PassRole not limited to the scheduler")
for action in ["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions", "cloudwatch:DescribeAlarms"]:
    body, condition = by_action.get(action, ({}, None))
    check(condition == "HasMutableAlarms", f"slack-command: {action} granted without MutableAlarms")
    check(":alarm:" in str(body.get("Resource")) and "MutableAlarms" in str(body.get("Resource")), f"slack-command: {action} not limited to the MutableAlarms ARNs")
role = resources["SchedulerRole"]["Properties"]
trust = role["AssumeRolePolicyDocument"]["Statement"][0]
check(trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and "aws:SourceAccount" in str(trust.get("Condition")), "scheduler role: trust not limited to the scheduler of this account")
invoke = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
check(len(invoke) == 1 and invoke[0]["Action"] == "lambda:InvokeFunction" and "-slack-command" in str(invoke[0]["Resource"]), f"scheduler role: more than invoking slack-command: {invoke}")
command_env = resources["SlackCommandFunction"]["Properties"]["Environment"]["Variables"]
check(command_env.get("SCHEDULE_GROUP") == {"Ref": "ScheduleGroup"}, "slack-command: SCHEDULE_GROUP is not the stack's group")
check(command_env.get("SCHEDULER_ROLE_ARN") == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}, "slack-command: SCHEDULER_ROLE_ARN is not the scheduler's role")
check(alarm_env.get("MUTABLE_ALARMS") == {"Ref": "MutableAlarms"}, "alarm-to-slack: MUTABLE_ALARMS is not the parameter")


# ---------------------------------------------------------------- one stack for the organisation (#24)
def without(node, condition):
    """`node` as it is when `condition` is false: each !If on it replaced by its false branch."""
    if isinstance(node, dict):
        if "Fn::If" in node and node["Fn::If"][0] == condition:
            return without(node["Fn::If"][2], condition)
        return {k: without(v, condition) for k, v in node.items()}
    if isinstance(node, list):
        return [without(v, condition) for v in node]
    return node


def mentions(node, name):
    return f"'Ref': '{name}'" in str(node) or "${" + name + "}" in str(node)


# With OrganizationId empty, nothing cross-account exists: every resource that names the organisation exists
# only under HasOrganization, or names it only in a branch of !If HasOrganization.
org_resources = []
for logical, res in resources.items():
    if res.get("Condition") == "HasOrganization":
        org_resources.append(logical)
        continue
    check(not mentions(without(res, "HasOrganization"), "OrganizationId"), f"{logical}: names OrganizationId outside HasOrganization")
check({"OrganizationEventBus", "OrganizationEventBusPolicy", "OrganizationEventsRule", "OrganizationEventsRulePermission"} <= set(org_resources), f"organisation resources not all under HasOrganization: {org_resources}")
for logical, res in resources.items():
    if res["Type"] in ("AWS::Events::EventBus", "AWS::Events::EventBusPolicy"):
        check(res.get("Condition") == "HasOrganization", f"{logical}: an event bus or bus policy exists without OrganizationId")
bus_rule = resources["OrganizationEventsRule"]["Properties"]
check(bus_rule.get("EventBusName") == {"Ref": "OrganizationEventBus"}, "the organisation's rule is not on the organisation's bus")


ORG_KEYS = {"aws:PrincipalOrgID", "aws:SourceOrgID", "aws:SourceAccount", "aws:PrincipalAccount", "aws:SourceArn", "aws:SourceOrgPaths", "aws:PrincipalOrgPaths"}


def policy_statements(node):
    """Every policy statement in a template: documents' Statement lists, an event bus policy's Statement."""
    if isinstance(node, dict):
        if "Effect" in node and ("Principal" in node or "Action" in node):
            yield node
            return
        for key, value in node.items():
            if key == "Fn::If":
                for branch in value[1:]:
                    yield from policy_statements(branch)
            else:
                yield from policy_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_statements(value)


def open_principal_problems(where, node):
    """Statements that let anyone in (`Principal: "*"`, `{"AWS": "*"}`), or a service act for any account,
    without a condition naming the organisation, an account or a source ARN."""
    problems = []
    for st in policy_statements(node):
        principal = st.get("Principal")
        if principal is None or st.get("Effect") != "Allow":
            continue
        values = principal.values() if isinstance(principal, dict) else [principal]
        flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
        everyone = "*" in flat
        service = isinstance(principal, dict) and "Service" in principal and not everyone
        if not (everyone or service):
            continue
        keys = {k for op in st.get("Condition", {}).values() if isinstance(op, dict) for k in op}
        if not keys & ORG_KEYS:
            kind = "Principal \"*\"" if everyone else f"service {principal['Service']}"
            problems.append(f"{where}: {kind} without a condition on the organisation, account or source ({st.get('Sid', st.get('Action'))})")
    return problems


# The check itself fails where it should.
check(open_principal_problems("sample", {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish"}]}), "the open-principal check lets Principal * through")
check(open_principal_problems("sample", {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "x", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}), "the open-principal check takes any condition")
check(not open_principal_problems("sample", {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}), "the open-principal check refuses an organisation condition")
for logical, res in resources.items():
    if res["Type"] in ("AWS::SNS::TopicPolicy", "AWS::Events::EventBusPolicy", "AWS::SQS::QueuePolicy", "AWS::IAM::Role"):
        failures.extend(open_principal_problems(logical, res["Properties"]))
topic_org = [st for st in policy_statements(resources["AlarmTopicPolicy"]["Properties"]) if "aws:SourceOrgID" in str(st)]
check(len(topic_org) == 1 and topic_org[0].get("Condition", {}).get("StringEquals", {}).get("aws:SourceOrgID") == {"Ref": "OrganizationId"}, f"alarm topic: CloudWatch of the organisation not limited to it: {topic_org}")
bus_policy = resources["OrganizationEventBusPolicy"]["Properties"]["Statement"]
check(bus_policy["Action"] == "events:PutEvents" and bus_policy.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID") == {"Ref": "OrganizationId"}, f"organisation bus: not PutEvents for the organisation only: {bus_policy}")

# Account names: the contract's variables are the parameters; Organizations is read only when asked.
check(alarm_env.get("ACCOUNT_NAMES") == {"Ref": "AccountNames"}, "alarm-to-slack: ACCOUNT_NAMES is not the parameter")
check(alarm_env.get("ORGANIZATIONS_LOOKUP") == {"Ref": "OrganizationsLookup"}, "alarm-to-slack: ORGANIZATIONS_LOOKUP is not the parameter")
org_reads = []
for st in resources["AlarmToSlackFunction"]["Properties"]["Policies"][0]["Statement"]:
    if "organizations:" in str(st):
        org_reads.append(st)
        check("Fn::If" in st and st["Fn::If"][0] == "LooksUpAccountNames", "alarm-to-slack: Organizations readable without OrganizationsLookup")
        check(st["Fn::If"][1]["Action"] == "organizations:DescribeAccount", f"alarm-to-slack: Organizations actions beyond DescribeAccount: {st}")
check(len(org_reads) == 1, f"alarm-to-slack: Organizations statements {org_reads}")

# Monitoring the monitor: the failed deliveries alarm on the functions' own metric, to the stack's topic, and
# a dashboard that shows every metric the functions write (shared/src/metrics.rs).
failed = resources["FailedDeliveriesAlarm"]["Properties"]
check((failed["Namespace"], failed["MetricName"]) == ("ChatOps", "Failed"), "failed deliveries alarm not on ChatOps/Failed")
check(failed["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "AlarmToSlackFunction"}}], "failed deliveries alarm not on alarm-to-slack")
topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "ExistingAlarmTopicArn"}]}
for logical in ["FailedDeliveriesAlarm", "FailedAlarmsQueueDepthAlarm"]:
    check(resources[logical]["Properties"]["AlarmActions"] == [topic], f"{logical}: not sent to the stack's own topic")
redrive = resources.get("AlarmToSlackFunctionFailureQueueRedrive", {})
check(redrive.get("Type") == "AWS::Lambda::EventSourceMapping" and redrive["Properties"].get("EventSourceArn") == {"Fn::GetAtt": ["FailedAlarmsQueue", "Arn"]}, "no re-drive mapping on the failure queue")
check(redrive.get("Properties", {}).get("FunctionName") == {"Ref": "AlarmToSlackFunction"}, "the re-drive does not invoke alarm-to-slack")
check(redrive.get("Properties", {}).get("Enabled") is False, "the failure queue's re-drive runs without being turned on")
check(redrive.get("Properties", {}).get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "the re-drive would drop a batch's failures with its successes")
check(all(e.get("Type") != "SQS" for e in resources["AlarmToSlackFunction"]["Properties"]["Events"].values()), "a SAM SQS event attaches AWSLambdaSQSQueueExecutionRole (SQS on every queue)")
sqs_reads = [st for st in statements(resources["AlarmToSlackFunction"]) if "sqs:ReceiveMessage" in str(st["Action"])]
check(len(sqs_reads) == 1 and set(sqs_reads[0]["Action"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} and sqs_reads[0]["Resource"] == {"Fn::GetAtt": ["FailedAlarmsQueue", "Arn"]}, f"alarm-to-slack: the re-drive's SQS reads beyond the failure queue: {sqs_reads}")
import re
from pathlib import Path
metrics_rs = Path("shared/src/metrics.rs").read_text()
emitted = set(re.findall(r'Self::\w+ => "(\w+)"', metrics_rs)) | {"Latency"}
board = str(resources["Dashboard"]["Properties"]["DashboardBody"])
# The body is JSON once CloudFormation fills in its ${...}: parse it as CloudWatch will.
import json
body_text, _values = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
try:
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_text))["widgets"]
    check(all(w["type"] == "metric" and w["properties"]["metrics"] for w in widgets), "dashboard: a widget without metrics")
except (ValueError, KeyError) as err:
    check(False, f"dashboard body is not CloudWatch's JSON: {err}")
missing = sorted(m for m in emitted - {"Ignored", "Commands"} if f'"{m}"' not in board)
check(not missing, f"dashboard lacks metrics the functions write: {missing}")
check("{ChatOps,FunctionName,Decision}" in board, "dashboard lacks the commands by decision")
check(len(emitted) >= 8, f"metric names not found in shared/src/metrics.rs: {emitted}")

# The member account's example: passes its own checks, forwards to the central bus only, and forwards each
# service's events with the same pattern as the central stack's own rule for that service.
member, member_errors = decode("examples/member-account.yaml")
check(not member_errors, f"examples/member-account.yaml does not parse: {member_errors}")
if member:
    mres = member["Resources"]
    for logical, res in mres.items():
        failures.extend(open_principal_problems(f"member {logical}", res["Properties"]))
    role = mres["ForwardRole"]["Properties"]
    puts = [st for p in role["Policies"] for st in p["PolicyDocument"]["Statement"]]
    check(puts == [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": {"Ref": "CentralEventBusArn"}}], f"member: the forwarding role may do more than put events on the central bus: {puts}")
    for logical in ["AlarmStateChangesRule", "ServiceEventsRule"]:
        targets = mres[logical]["Properties"]["Targets"]
        check(all(t["Arn"] == {"Ref": "CentralEventBusArn"} and t["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]} for t in targets), f"member {logical}: forwards elsewhere than the central bus")
    forwarded = {p["source"][0]: p for p in mres["ServiceEventsRule"]["Properties"]["EventPattern"]["$or"]}
    for logical, res in resources.items():
        if res["Type"] == "AWS::Events::Rule" and logical.startswith(("GuardDuty", "SecurityHub", "Health", "Backup", "CodePipeline", "Ecs", "CloudFormation", "CodeDeploy")):
            pattern = res["Properties"]["EventPattern"]
            check(forwarded.get(pattern["source"][0]) == pattern, f"member: {pattern['source'][0]} forwarded with another pattern than {logical}'s")
    check(set(forwarded) <= set(bus_rule["EventPattern"]["source"]), f"member forwards sources the central bus rule drops: {set(forwarded) - set(bus_rule['EventPattern']['source'])}")
    check("aws.cloudwatch" in bus_rule["EventPattern"]["source"], "the central bus rule drops alarm state changes")



# ---------------------------------------------------------------- after the SAM transform
# What CloudFormation deploys is the transform's output: SAM adds roles, managed policies and inline policies
# of its own (an SQS event once attached AWSLambdaSQSQueueExecutionRole, SQS on every queue). The checks
# below read the template as the SAM CLI's translator turns it into CloudFormation, managed policies included.
import copy
import os

# Managed policies a role may carry, and why. Nothing else: a managed policy is not ours to narrow.
ALLOWED_MANAGED = {
    # Lambda's own log writing (CreateLogStream / PutLogEvents); every SAM function has it.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}


def sam_transform(source):
    """`source` (a decoded SAM template) as CloudFormation, the way `sam deploy` has it transformed."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    from samtranslator.translator.transform import transform

    class NoManagedPolicyNames:
        def load(self):
            return {}

    doc = copy.deepcopy(source)
    for res in doc["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key"  # the translator wants an S3 location
    params = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    return transform(doc, params, NoManagedPolicyNames())


def transformed_problems(cfn):
    """Roles in the deployed template: managed policies beyond ALLOWED_MANAGED; inline statements with wildcard
    actions, on `*` beyond Describe*, or reading SQS beyond the failure queue."""
    problems = []
    for logical, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for arn in res["Properties"].get("ManagedPolicyArns", []):
            text = arn if isinstance(arn, str) else json.dumps(arn)
            if text.replace("${AWS::Partition}", "aws") not in ALLOWED_MANAGED:
                problems.append(f"{logical}: managed policy {text} (after the SAM transform)")
        for policy in res["Properties"].get("Policies", []):
            for st in policy_statements(policy.get("PolicyDocument", {})):
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                where = f"{logical}/{policy.get('PolicyName')}"
                if any(a == "*" or a.endswith(":*") for a in actions):
                    problems.append(f"{where}: wildcard action {actions}")
                if st.get("Resource") == "*" and not on_star_allowed(actions):
                    problems.append(f"{where}: {actions} on *")
                if any(a.startswith("sqs:") for a in actions) and st.get("Resource") != {"Fn::GetAtt": ["FailedAlarmsQueue", "Arn"]}:
                    problems.append(f"{where}: {actions} on {st.get('Resource')}")
    return problems


deployed = sam_transform(template)
failures.extend(transformed_problems(deployed))
check(deployed["Resources"].get("AlarmToSlackFunctionFailureQueueRedrive", {}).get("Type") == "AWS::Lambda::EventSourceMapping", "after the transform: no re-drive mapping")
# The check itself fails where it should: the SQS event this template once had, and a statement on *.
sample = copy.deepcopy(template)
sample["Resources"]["AlarmToSlackFunction"]["Properties"]["Events"]["Redrive"] = {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["FailedAlarmsQueue", "Arn"]}, "Enabled": False}}
bad = transformed_problems(sam_transform(sample))
check(any("AWSLambdaSQSQueueExecutionRole" in p for p in bad), f"the after-transform check lets SAM's SQS managed policy through: {bad}")
sample = copy.deepcopy(template)
sample["Resources"]["SlackCommandFunction"]["Properties"]["Policies"].append({"Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}]})
bad = transformed_problems(sam_transform(sample))
check(any("on *" in p for p in bad), f"the after-transform check lets an inline statement on * through: {bad}")

if failures:
    print("template.yaml checks failed:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("template.yaml: least-privilege and on-failure checks passed")


# The operations report: one recurring schedule for the stack (each firing posts everyone's report and each
# team's), only when a report channel is set, invoking slack-command with the report timer, in the stack's group
# (whose role may invoke slack-command only).
schedules = {name: r for name, r in resources.items() if r["Type"] == "AWS::Scheduler::Schedule"}
check(list(schedules) == ["ReportScheduleEntry"], f"recurring schedules {sorted(schedules)}")
report = schedules.get("ReportScheduleEntry", {})
check(report.get("Condition") == "HasReport", "the report's schedule exists without a report channel")
target = report.get("Properties", {}).get("Target", {})
check(target.get("Arn") == {"Fn::GetAtt": ["SlackCommandFunction", "Arn"]}, f"the report's schedule targets {target.get('Arn')}")
check(target.get("RoleArn") == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}, "the report's schedule runs as another role")
check('"kind": "report"' in json.dumps(target.get("Input")), f"the report's schedule input {target.get('Input')}")
check(report.get("Properties", {}).get("GroupName") == {"Ref": "ScheduleGroup"}, "the report's schedule is outside the stack's group")
print("template.yaml: the operations report's schedule checked")
