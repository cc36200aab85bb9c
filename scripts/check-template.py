"""Least-privilege and no-lost-alarm checks on template.yaml that cfn-lint does not make.

Run by scripts/test with the .venv Python (cfn-lint's YAML loader understands !Ref, !Sub, ...).
"""
import sys

from cfnlint.decode import decode

template, errors = decode("template.yaml")
if errors:
    sys.exit(f"template.yaml does not parse: {errors}")
resources = template["Resources"]
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


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
            check(all(a.split(":")[1].startswith("Describe") for a in actions), f"{logical}: {actions} on *")

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
        if ddb:
            granted |= ddb
            check(st["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}, f"{logical}: DynamoDB beyond the state table")
            keys = st.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            check(bool(keys), f"{logical}: DynamoDB access not limited to its own key prefixes")
    check(granted == expected, f"{logical}: DynamoDB actions {sorted(granted)}, expected {sorted(expected)}")

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
check(len(alarm_grants) == 2, f"alarm-to-slack: DynamoDB key prefixes {sorted(alarm_grants)}")
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
    if any(a.startswith("dynamodb:") for a in actions):
        keys = tuple(st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        by_prefix[keys] = (set(actions), conditional and st is not None)
        if keys == ("approval#*",):
            check(conditional, "slack-command: approval items granted without a policy")
        if keys == INCIDENT_KEYS:
            check(conditional and st_if[0] == "HasIncidents", f"slack-command: {keys} granted without incidents configured")
        if keys == ("lifecycle#*",):
            # On an alert's record only what was done from its message: the incident's line, the acknowledgement.
            attributes = st["Condition"]["ForAllValues:StringLike"].get("dynamodb:Attributes")
            check(attributes == ["pk", "sk", "incident", "ack_by", "ack_at", "alarm_since", "mute_id", "mute_by", "mute_until", "mute_ok", "silence_id", "silence_by", "silence_until"], f"slack-command: lifecycle# attributes {attributes}")
check(by_prefix.get(("replay#*",), (None,))[0] == {"dynamodb:PutItem"}, f"slack-command: replay# grants {by_prefix}")
check(by_prefix.get(("approval#*",), (None,))[0] == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}, f"slack-command: approval# grants {by_prefix}")
check(by_prefix.get(INCIDENT_KEYS, (None,))[0] == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}, f"slack-command: incident grants {by_prefix}")
check(by_prefix.get(("lifecycle#*",), (None,))[0] == {"dynamodb:UpdateItem"}, f"slack-command: lifecycle# grants {by_prefix}")
check(set(by_prefix) == {("replay#*",), ("approval#*",), INCIDENT_KEYS, ("lifecycle#*",)}, f"slack-command: DynamoDB key prefixes {sorted(by_prefix)}")
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


if failures:
    print("template.yaml checks failed:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("template.yaml: least-privilege and on-failure checks passed")

