"""What CI/CD and deployment stand on, checked here because it cannot run here: the workflow
is valid and calls only Makefile targets that exist, signs in without a stored key, the
image holds every file the service reads, the Cloud Run service's probes and settings are
ones the app has, and the README's table names every setting."""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib.settings import Settings
from lib.web.app import create_app
from tests.support.server_process import server
from tests.support.stores import private_copy

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SETTINGS = {f"CLEARED_{name.upper()}" for name in Settings.model_fields}


def makefile_targets() -> set[str]:
    """The targets make itself knows (its database, not a regex over the Makefile's text)."""
    database = subprocess.run(["make", "-pRrq", "-C", str(ROOT), ":"], capture_output=True, text=True).stdout
    return {found.group(1) for found in re.finditer(r"^([a-zA-Z0-9][a-zA-Z0-9_.-]*):", database, re.M)}


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_there_is_a_workflow_and_each_one_is_valid_for_github() -> None:
    assert WORKFLOWS
    check = Path(sys.executable).parent / "check-jsonschema"  # GitHub's schema, vendored in the wheel
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_call_only_make_targets_that_exist(path: Path) -> None:
    called = {
        target
        for step in steps(yaml.safe_load(path.read_text()))
        for command in re.findall(r"\bmake\s+([^\n|&;]+)", step.get("run", ""))
        for target in command.split()
        if "=" not in target and not target.startswith("-")
    }
    assert called and called <= makefile_targets()


def test_the_pipeline_tests_against_postgres_then_deploys_by_branch_with_federated_identity() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    assert "container" in jobs["test"] and "postgres" in jobs["test"]["services"]
    deploy = jobs["deploy"]
    assert set(deploy["needs"]) == {"lint", "typecheck", "test"} and deploy["if"] == "github.event_name == 'push'"
    assert deploy["env"]["STAGE"] == "${{ github.ref_name == 'main' && 'production' || 'staging' }}"
    assert deploy["permissions"]["id-token"] == "write"
    [auth] = [step for step in deploy["steps"] if step.get("uses", "").startswith("google-github-actions/auth@")]
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    text = "\n".join(path.read_text() for path in WORKFLOWS)
    assert "credentials_json" not in text and "secrets." not in re.sub(r"#.*", "", text)  # no stored key at all


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def image_files() -> list[str]:
    """What the final stage copies from the build context."""
    final = dockerfile()[max(i for i, (op, _) in enumerate(dockerfile()) if op == "FROM") :]
    return [name for op, args in final if op == "COPY" and "--from" not in args for name in args.split()[:-1]]


def test_the_image_is_built_from_the_runtime_requirements_on_our_python() -> None:
    instructions = dockerfile()
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    assert bases and all(base.startswith("python:3.11-") for base in bases)
    assert any(op == "COPY" and args.startswith("requirements.txt ") for op, args in instructions)
    assert not any("requirements-dev" in args for _, args in instructions)
    assert ("USER", "cleared") in instructions  # not root
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert all((ROOT / name).exists() and name not in ignored for name in image_files())


@pytest.mark.slow
def test_the_files_the_image_holds_are_enough_to_serve(catalog_path: Path, tmp_path: Path) -> None:
    """main.py run from a folder holding only what the Dockerfile copies."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name in image_files():
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, app_dir / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, app_dir / name)
    db = private_copy(catalog_path, tmp_path)
    env = {"CLEARED_DB": str(db), "CLEARED_STORAGE": str(tmp_path / "up"), "CLEARED_LOG_FORMAT": "json"}
    with server(env, root=app_dir) as (url, _):
        for path in ("/readyz", "/openapi.yaml", "/docs", "/demo", "/demo/static/demo.js"):
            with urllib.request.urlopen(url + path, timeout=10) as response:
                assert response.status == 200, path
        with urllib.request.urlopen(url + "/readyz", timeout=10) as response:
            assert json.load(response)["tracks"] == 6


def cloud_run_service() -> dict[str, Any]:
    """deploy/cloudrun.yaml as `make deploy-run` renders it (envsubst: ${VAR}, as string.Template)."""
    template = string.Template((ROOT / "deploy" / "cloudrun.yaml").read_text())
    exported = re.search(r"^export (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert exported is not None
    names = set(template.get_identifiers())
    assert names <= set(exported.group(1).split())  # every placeholder is exported by the Makefile
    return dict(yaml.safe_load(template.substitute({name: f"<{name}>" for name in names})))


def test_the_cloud_run_service_probes_routes_the_app_serves_and_sets_only_real_settings(tmp_path: Path) -> None:

    spec = cloud_run_service()["spec"]["template"]["spec"]
    [container] = spec["containers"]
    probes = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe")}
    app = create_app(Settings(db=tmp_path / "c.db", storage=str(tmp_path / "up"), task_workers=0))
    served = {rule.rule for rule in app.url_map.iter_rules()}
    assert probes == {"/readyz", "/healthz"} and probes <= served
    names = {variable["name"] for variable in container["env"]}
    assert {name for name in names if name.startswith("CLEARED_")} <= SETTINGS
    assert "CLEARED_WEBHOOK_SECRET" in names  # one secret for all instances, from Secret Manager
    assert "value" not in next(v for v in container["env"] if v["name"] == "CLEARED_WEBHOOK_SECRET")


def test_the_readme_table_names_every_setting_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `(CLEARED_[A-Z_]+)` \|", readme, re.M))
    assert table == SETTINGS
