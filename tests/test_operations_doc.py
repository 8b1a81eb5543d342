"""docs/operations.md against the code: the metrics table, the alert rules and their runbooks;
and the README's Configuration table against the Settings object."""

import re
from pathlib import Path

import yaml

from service.config import Settings
from service.observability import metrics

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "operations.md").read_text()
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")


def folio_metrics() -> dict[str, object]:
    """Folio's own metric families (service/observability/metrics.py), by exposed name."""
    families = {}
    for collector in vars(metrics).values():
        if hasattr(collector, "describe") and hasattr(collector, "_name"):
            for family in collector.describe():
                families[family.name] = collector
    return families


def labels_of(collector: object) -> set[str]:
    return set(getattr(collector, "_labelnames", ()))


def alert_rules() -> list[dict]:
    """The rules of the alert-rules YAML block (the one with `groups:`)."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    documents = [yaml.safe_load(block) for block in blocks]
    [rules_document] = [doc for doc in documents if isinstance(doc, dict) and "groups" in doc]
    return [rule for group in rules_document["groups"] for rule in group["rules"]]


def test_the_metrics_table_lists_every_folio_metric_and_no_other():
    table = DOC.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(folio_\w+)`", table, re.MULTILINE))
    exposed = {name + ("_total" if collector._type == "counter" else "")
               for name, collector in folio_metrics().items()}
    assert documented == exposed


def test_the_metrics_table_names_each_metrics_labels():
    table = DOC.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    for name, collector in folio_metrics().items():
        shown = name + ("_total" if collector._type == "counter" else "")
        [row] = [line for line in table.splitlines() if line.startswith(f"| `{shown}` |")]
        cells = row.split("|")
        assert cells[2].strip() == collector._type, shown
        assert set(re.findall(r"`(\w+)`", cells[3])) == labels_of(collector), shown


def test_every_alert_rule_parses_and_names_only_exported_metrics_and_labels():
    families = folio_metrics()
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "FolioHighErrorRate", "FolioSlowRequests", "FolioDatabaseUnavailable",
        "FolioRateLimitSpike",
    }
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule
        expr = rule["expr"]
        names = set(re.findall(r"\b(folio_\w+)", expr))
        assert names, rule["alert"]
        for name in names:
            base = next((name.removesuffix(s) for s in SUFFIXES if name.removesuffix(s) in families),
                        name)
            assert base in families, f"{rule['alert']}: {name} is not a Folio metric"
            collector = families[base]
            allowed = labels_of(collector) | ({"le"} if name.endswith("_bucket") else set())
            for selector in re.findall(rf"\b{name}\{{([^}}]*)\}}", expr):
                used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
                assert used <= allowed, f"{rule['alert']}: {name} has no label {used - allowed}"
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            used = {label.strip() for label in grouping.split(",")}
            every = set().union(*(labels_of(families[n.removesuffix("_bucket").removesuffix(
                "_total")]) for n in names)) | {"le"}
            assert used <= every, f"{rule['alert']}: grouped by unknown {used - every}"


def test_every_alert_has_a_runbook_entry():
    headings = set(re.findall(r"^### (\w+)$", DOC.split("## Runbook", 1)[1], re.MULTILINE))
    for rule in alert_rules():
        assert rule["alert"] in headings
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"


def test_every_setting_is_in_the_readme_configuration_table():
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", table, re.MULTILINE))
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or []
        variables = {alias.upper() for alias in aliases if alias.isupper()}
        variables = variables or {f"FOLIO_{name.upper()}"}
        assert variables & documented, f"{name} ({', '.join(variables)}) is not in the README"
