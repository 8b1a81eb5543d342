"""The deployment files keep their promises: pinned MongoDB, replica set, healthcheck, volume;
Redis wired to the API; and the compose file is valid by the Compose Specification's schema."""

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_a_pinned_mongodb_replica_set_with_a_healthcheck_and_volume():
    mongo = compose()["services"]["mongo"]
    image, _, tag = mongo["image"].partition(":")
    assert image == "mongo" and tag.split(".")[0] in {"7", "8"}
    assert "--replSet" in mongo["command"]
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check
    assert "quit(db.hello().isWritablePrimary ? 0 : 1)" in check  # healthy only once PRIMARY
    assert any(volume.startswith("mongo-data:") for volume in mongo["volumes"])
    assert "mongo-data" in compose()["volumes"]


def test_compose_wires_the_api_to_mongodb_without_a_committed_secret():
    api = compose()["services"]["api"]
    assert api["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["environment"]["FOLIO_MONGODB_URL"].startswith("mongodb://mongo:27017/")


def test_compose_refuses_at_once_without_a_jwt_secret():
    # `${VAR:?message}`: compose stops before starting anything, instead of a restart loop.
    for name in ("api", "migrate"):
        secret = compose()["services"][name]["environment"]["FOLIO_JWT_SECRET"]
        assert secret.startswith("${FOLIO_JWT_SECRET:?") and secret.endswith("}"), secret
        assert "$" not in secret[len("${FOLIO_JWT_SECRET:?"):]  # no interpolation in the message


def test_compose_builds_one_image_for_migrate_and_the_api():
    services = compose()["services"]
    assert [name for name, service in services.items() if "build" in service] == ["migrate"]
    assert services["migrate"]["image"] == services["api"]["image"]
    assert services["api"]["pull_policy"] == "never"  # built here, never looked up elsewhere


def test_compose_gives_the_api_a_healthcheck_on_readyz():
    check = compose()["services"]["api"]["healthcheck"]
    assert check["test"][:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8000/readyz" in check["test"][3]
    compile(check["test"][3], "healthcheck", "exec")  # the command is valid Python


def test_compose_publishes_the_api_and_its_metrics_on_loopback_only_by_default():
    (port,) = compose()["services"]["api"]["ports"]
    assert port == "${FOLIO_PUBLISH:-127.0.0.1}:8000:8000"  # wider only when asked
    assert "FOLIO_METRICS_TOKEN" in compose()["services"]["api"]["environment"]
    assert all(":" in p and p.startswith("127.0.0.1:")
               for name in ("mongo",) for p in compose()["services"][name].get("ports", []))


def test_compose_syncs_indexes_and_migrates_once_before_the_api():
    migrate = compose()["services"]["migrate"]
    assert migrate["command"] == ["sh", "-c", "folio db sync && folio migrate up"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert migrate["environment"] == {  # the tools use neither CORS, metrics nor Redis
        key: value for key, value in compose()["services"]["api"]["environment"].items()
        if key not in ("FOLIO_CORS_ORIGINS", "FOLIO_METRICS_TOKEN", "FOLIO_REDIS_URL")
    }


def test_compose_runs_a_pinned_redis_with_a_healthcheck_wired_to_the_api():
    redis = compose()["services"]["redis"]
    image, _, tag = redis["image"].partition(":")
    assert image == "redis" and tag.split(".")[0].split("-")[0] == "7"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    api = compose()["services"]["api"]
    assert api["environment"]["FOLIO_REDIS_URL"] == "redis://redis:6379/0"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_is_valid_by_the_compose_specification_schema():
    # The schema as vendored (offline) by the check-jsonschema package, from compose-spec.
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(compose())]
    assert problems == []
    broken = {**compose(), "services": {"api": {"image": "folio", "healthcheck": {"test": 5}}}}
    assert list(validator.iter_errors(broken))  # the schema does catch a mistake


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    assert command in readme
    assert command in ci
    assert "bash .ci/wire-tier" in ci  # and, beside it, the real driver over the wire


def test_the_code_passes_ruff():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "service", "models", "scripts", "tools", "tests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
