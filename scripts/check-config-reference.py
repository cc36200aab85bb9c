#!/usr/bin/env python3
"""docs/configuration.md against the code and the template: every environment variable the functions read
(in shared/src and functions/*/src, outside test modules) or the template sets, and every template
parameter, is listed there; and everything listed there still exists. Prints what is missing or stale and
exits 1 on any. Run by scripts/test with the .venv Python (cfn-lint's YAML loader reads !Ref and friends).

A variable, for this check, is a string literal shaped like one (`UPPER_CASE_WITH_UNDERSCORES`) in the
functions' code; the few such literals that are values, not variables, are named in NOT_VARIABLES. The
per-service endpoint variables are built from the service IDs in shared/src/aws/mod.rs, so they are
derived from there.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"

# Upper-case literals that are values AWS sends, not variables.
NOT_VARIABLES = {
    "INSUFFICIENT_DATA",  # a CloudWatch alarm state
    "ROLLBACK_FAILED",  # a CloudFormation status
    "BACKUP_JOB", "COPY_JOB", "RESTORE_JOB",  # AWS Backup job kinds
    "SAMPLE_COUNT",  # a statistic as SNS spells it
    "ALARM_SUPPRESSED",  # an alarm's suppression state
    "CARGO_PKG_VERSION", "CARGO_MANIFEST_DIR",  # read at compile time by env!(), not at run time
}
LITERAL = re.compile(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"')


def code_variables(sources):
    """Variables in `sources` (path → text), test modules left out."""
    found = set()
    for text in sources.values():
        text = re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+", text)[0]
        found |= {m.group(1) for m in LITERAL.finditer(text)}
    return found - NOT_VARIABLES


def endpoint_variables(aws_mod):
    ids = re.search(r"SERVICE_IDS:[^=]*=\s*\[(.*?)\];", aws_mod, flags=re.S)
    names = re.findall(r'"([^"]+)"', ids.group(1)) if ids else []
    return {"AWS_ENDPOINT_URL_" + n.upper().replace(" ", "_") for n in names}


def reference_names(markdown):
    """(parameters, variables) named in the first column of the reference's tables."""
    params, variables = set(), set()
    section = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            section = line[3:].strip().lower()
        elif line.startswith("| `"):
            first = line.split("|")[1]
            names = set(re.findall(r"`([A-Za-z][A-Za-z0-9_]*)`", first))
            (params if section.startswith("template parameters") else variables).update(names)
    return params, variables


def problems(params_template, variables_code, variables_template, markdown):
    ref_params, ref_vars = reference_names(markdown)
    out = []
    for p in sorted(params_template - ref_params):
        out.append(f"template parameter {p} is not in docs/configuration.md")
    for p in sorted(ref_params - params_template):
        out.append(f"docs/configuration.md lists parameter {p}, which the template no longer declares")
    wanted = variables_code | variables_template
    for v in sorted(wanted - ref_vars):
        where = "the code reads" if v in variables_code else "the template sets"
        out.append(f"{where} {v}, which docs/configuration.md does not list")
    for v in sorted(ref_vars - wanted):
        out.append(f"docs/configuration.md lists {v}, which neither the code reads nor the template sets")
    return out


def manifest_problems(manifest, sources, events_rs):
    """The slash commands and Events API events the code answers, each in slack/manifest.yaml."""
    commands = set()
    for text in sources.values():
        commands |= set(re.findall(r'pub const COMMAND: &str = "(/[a-z]+)"', text))
        commands |= set(re.findall(r'&\[\("(/[a-z]+)", ', text))
    events = set(re.findall(r'event\.kind [!=]= "([a-z_]+)"', events_rs))
    declared = {c.get("command") for c in manifest.get("features", {}).get("slash_commands", [])}
    subscribed = set(manifest.get("settings", {}).get("event_subscriptions", {}).get("bot_events", []))
    out = [f"the code answers {c}, which slack/manifest.yaml does not declare" for c in sorted(commands - declared)]
    out += [f"the code handles the event {e}, which slack/manifest.yaml does not subscribe to" for e in sorted(events - subscribed)]
    if "app_home_opened" in events and not manifest.get("features", {}).get("app_home", {}).get("home_tab_enabled"):
        out.append("the code publishes the App Home, which slack/manifest.yaml does not enable (features.app_home)")
    return out, commands, events


def main():
    from cfnlint.decode import decode
    import yaml

    template, errors = decode(str(ROOT / "template.yaml"))
    if errors:
        sys.exit(f"template.yaml does not parse: {errors}")
    params = set(template["Parameters"])
    set_by_template = set()
    for res in template["Resources"].values():
        env = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if res["Type"] == "AWS::Serverless::Function":
            set_by_template |= set(env)
    sources = {p: p.read_text() for p in list((ROOT / "shared" / "src").rglob("*.rs")) + list((ROOT / "functions").glob("*/src/**/*.rs"))}
    code = code_variables(sources) | endpoint_variables((ROOT / "shared" / "src" / "aws" / "mod.rs").read_text())
    markdown = REFERENCE.read_text()

    # Self-test: a variable added to the code without its line, and a line for one that is gone, are found.
    sample = {"x.rs": 'let v = non_empty(lookup, "BRAND_NEW_SETTING");\n#[cfg(test)]\nmod tests { "TEST_ONLY_VAR" }'}
    found = problems(params, code | code_variables(sample), set_by_template, markdown)
    assert any("BRAND_NEW_SETTING" in f for f in found), "the check misses a variable the code reads"
    assert not any("TEST_ONLY_VAR" in f for f in found), "the check counts a test module's literal"
    stale = problems(params, code, set_by_template, markdown + "\n## slack-command\n| `GONE_SETTING` | x |\n")
    assert any("GONE_SETTING" in f for f in stale), "the check misses a listed variable that is gone"
    gone_param = problems(params | {"NewParameter"}, code, set_by_template, markdown)
    assert any("NewParameter" in f for f in gone_param), "the check misses a parameter"

    found = problems(params, code, set_by_template, markdown)
    # The Slack app's manifest: every command and event the code answers is declared there.
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text())
    events_rs = (ROOT / "shared" / "src" / "slack" / "events.rs").read_text()
    manifest_found, commands, events = manifest_problems(manifest, sources, events_rs)
    assert {"/scale", "/incident", "/status"} <= commands and {"app_mention", "app_home_opened"} <= events, (commands, events)
    gone = dict(manifest, settings={"event_subscriptions": {"bot_events": []}})
    assert any("app_home_opened" in f for f in manifest_problems(gone, sources, events_rs)[0]), "the check misses an event"
    found += manifest_found
    # One version: the workspace's, the Serverless Application Repository's, the changelog's latest release.
    cargo = re.search(r'\[workspace\.package\][^\[]*?\nversion = "([^"]+)"', (ROOT / "Cargo.toml").read_text())
    sar = template.get("Metadata", {}).get("AWS::ServerlessRepo::Application", {}).get("SemanticVersion")
    released = re.search(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    versions = (cargo and cargo.group(1), str(sar) if sar else None, released and released.group(1))
    if len(set(versions)) != 1 or None in versions:
        found.append(f"versions disagree: Cargo.toml {versions[0]}, template.yaml {versions[1]}, CHANGELOG.md {versions[2]}")
    if found:
        print("docs/configuration.md is out of step:")
        for f in found:
            print(f"  {f}")
        sys.exit(1)
    print(f"docs/configuration.md: {len(params)} parameters and {len(code | set_by_template)} variables, all listed; slack/manifest.yaml: {len(commands)} commands, {len(events)} events")


if __name__ == "__main__":
    main()
