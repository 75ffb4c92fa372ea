"""The Kubernetes manifests (deploy/kubernetes) and docker-compose.yml, checked without a cluster or Docker.

Every test also runs its check on a deliberately broken copy and asserts it is refused: a
validator or a check that passes everything fails here.
"""

from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from check_jsonschema.cli.main_command import main as check_jsonschema
from click.testing import CliRunner
from django.core.management import CommandError, call_command
from django.urls import Resolver404, resolve

from backbone_admin.clusters import ClusterConfigError, parse_clusters_yaml
from backbone_admin.kafka.errors import InvalidRequest
from tests.deploy.manifests import (
    COMPOSE_FILE,
    IMAGE,
    K8S_DIR,
    Doc,
    all_docs,
    applied_docs,
    broken,
    clusters_file_refs,
    config_mount_problems,
    containers,
    dockerfile_uid,
    entrypoint_problems,
    entrypoint_roles,
    env_reads,
    exports_problems,
    find,
    kustomization,
    load_docs,
    manifest_env,
    pod_specs,
    run_entrypoint,
    security_problems,
    unread_variables,
)

# The newest Kubernetes whose API schemas kubernetes-validate ships (offline, in the wheel).
K8S_VERSION = "1.37.0"
# Settings that hold a secret (a URL with a password, a key, a token): only ever from a Secret.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network inside the test: the validators must use the schemas they ship."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network access in an offline validation test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def k8s_errors(doc: Doc) -> list[str]:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
        return [f"{doc['kind']}/{doc['metadata']['name']}: {getattr(exc, 'message', exc)}"]
    return []


def test_every_manifest_validates_against_the_kubernetes_api_schemas(offline: None) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("pypi.org", 443), timeout=5)
    docs = all_docs()
    assert {d["kind"] for d in docs} >= {"Deployment", "Job", "Service", "HorizontalPodAutoscaler"}
    assert [e for doc in docs for e in k8s_errors(doc)] == []

    web = find(docs, "Deployment", "backbone-console-web")
    # A misspelt field (strict mode), a wrong type and an unknown kind are each refused.
    assert k8s_errors(broken(web, "spec.template.spec.containers.0.livenesProbe", {}))
    assert k8s_errors(broken(web, "spec.replicas", "two"))
    assert k8s_errors({**web, "kind": "Deploymnet"})
    hpa = find(docs, "HorizontalPodAutoscaler", "backbone-console-web")
    assert k8s_errors(broken(hpa, "spec.metrics.0.resource.target.averageUtilization", "70%"))


def test_the_kustomization_applies_every_manifest_and_no_secret() -> None:
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    examples = {name for name in files if name.endswith(".example.yaml")}
    assert examples == {"secret.example.yaml", "ingress.example.yaml"}
    assert sorted(kustomization()["resources"]) == sorted(files - examples)
    assert {i["name"] for i in kustomization()["images"]} == {IMAGE}

    def inlined_secrets(docs: list[Doc], kust: Doc) -> list[str]:
        found = [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"]
        found += [g["name"] for g in kust.get("secretGenerator", [])]
        # Nor a secret setting written out in a ConfigMap or a container's env.
        found += [k for d in docs if d["kind"] == "ConfigMap" for k in d["data"] if SECRET_NAME.search(k)]
        found += [
            e["name"]
            for _, spec in pod_specs(docs)
            for c in containers(spec)
            for e in c.get("env", [])
            if "value" in e and SECRET_NAME.search(e["name"])
        ]
        return found

    assert inlined_secrets(applied_docs(), kustomization()) == []
    secret = load_docs(K8S_DIR / "secret.example.yaml")
    assert inlined_secrets(applied_docs() + secret, kustomization()) == ["backbone-console"]
    assert inlined_secrets([], {"secretGenerator": [{"name": "s", "literals": ["SECRET_KEY=x"]}]}) == ["s"]
    config = find(applied_docs(), "ConfigMap", "backbone-console-env")
    assert inlined_secrets([broken(config, "data.DATABASE_URL", "postgres://u:pw@db/x")], {}) == ["DATABASE_URL"]
    web = find(applied_docs(), "Deployment", "backbone-console-web")
    env = [{"name": "METRICS_TOKEN", "value": "s3cret"}]
    assert inlined_secrets([broken(web, "spec.template.spec.containers.0.env", env)], {}) == ["METRICS_TOKEN"]
    # Pods take the Secret by reference: the one name every secretRef uses is the example's.
    refs = {
        s["secretRef"]["name"]
        for _, spec in pod_specs(applied_docs())
        for c in containers(spec)
        for s in c.get("envFrom", [])
        if "secretRef" in s
    }
    assert refs == {secret[0]["metadata"]["name"]}


def test_every_variable_the_manifests_set_is_one_the_console_reads() -> None:
    read = env_reads()
    # The reader itself works: settings, env_secret's _FILE twin, manage.py and the entry point.
    assert {"SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL", "REDIS_URL", "HTTPS", "BEHIND_PROXY", "PORT"} <= read
    assert "DJANGO_SETTINGS_MODULE" in read and "EXPORT_ROOT" in read

    docs = applied_docs()
    clusters = find(docs, "ConfigMap", "backbone-console-files")["data"]["clusters.yml"]
    read |= clusters_file_refs(clusters)
    secret_keys = set(load_docs(K8S_DIR / "secret.example.yaml")[0]["stringData"])
    set_vars = manifest_env(docs, secret_keys)
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "BACKBONE_CLUSTERS_FILE"} <= set(set_vars)
    assert unread_variables(set_vars, read) == []

    config = find(docs, "ConfigMap", "backbone-console-env")
    typo = broken(config, "data.BACKBONE_CLUSTER_FILE", "/etc/backbone/clusters.yml")
    docs_with_typo = [typo if d is config else d for d in docs]
    problems = unread_variables(manifest_env(docs_with_typo, secret_keys), read)
    assert len(problems) == 1 and problems[0].startswith("BACKBONE_CLUSTER_FILE")
    assert unread_variables(manifest_env(docs, secret_keys | {"SECRET_KEYS"}), read)


@pytest.mark.django_db
def test_the_files_of_the_config_map_are_ones_the_console_accepts(tmp_path: Path) -> None:
    docs = applied_docs()
    files = find(docs, "ConfigMap", "backbone-console-files")["data"]
    assert list(parse_clusters_yaml(files["clusters.yml"])) == ["backbone"]
    with pytest.raises(ClusterConfigError, match="bootstrap_servers"):
        parse_clusters_yaml("clusters:\n  - name: backbone\n")
    # The permissions file as the migration Job imports it (a dry run changes nothing).
    mapping = tmp_path / "permissions.yml"
    mapping.write_text(files["permissions.yml"])
    call_command("permissions", "import", str(mapping), "--mapping", "--dry-run", stdout=io.StringIO())
    mapping.write_text(files["permissions.yml"].replace("role: viewer", "role: superuser"))
    with pytest.raises((CommandError, InvalidRequest)):
        call_command("permissions", "import", str(mapping), "--mapping", "--dry-run", stdout=io.StringIO())
    assert config_mount_problems(docs) == []
    web = find(docs, "Deployment", "backbone-console-web")
    unmounted = broken(web, "spec.template.spec.containers.0.volumeMounts", [])
    assert config_mount_problems([unmounted if d is web else d for d in docs])


def test_the_entry_point_accepts_every_command_the_manifests_and_compose_run(tmp_path: Path) -> None:
    assert entrypoint_roles() >= {"web", "worker", "beat", "migrate", "manage"}
    commands = [(f"{where} {c['name']}", c["args"]) for where, spec in pod_specs(all_docs()) for c in containers(spec)]
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    commands += [(f"compose {n}", s["command"]) for n, s in compose.items() if s.get("image", "").startswith(IMAGE)]
    assert len(commands) >= 9
    assert [p for _, args in commands for p in entrypoint_problems(args, tmp_path)] == []

    # Behind the ingress (config.yaml: BEHIND_PROXY=1) Daphne trusts the forwarded headers.
    env = find(all_docs(), "ConfigMap", "backbone-console-env")["data"]
    daphne = run_entrypoint(["web"], tmp_path, env)[1][-1]
    assert daphne.startswith("daphne ") and "--proxy-headers" in daphne.split()
    assert "--proxy-headers" not in run_entrypoint(["web"], tmp_path, {**env, "BEHIND_PROXY": "0"})[1][-1]

    assert entrypoint_problems(["wroker"], tmp_path)  # a typo would fall through to `exec wroker`
    assert entrypoint_problems(["manage", "permissions", "import", "--no-such-option"], tmp_path)
    assert entrypoint_problems(["manage", "no_such_command"], tmp_path)


def test_every_container_runs_as_the_images_user_on_a_read_only_root_with_limits() -> None:
    uid = dockerfile_uid()
    assert uid == 10001
    specs = list(pod_specs(all_docs()))
    assert len(specs) == 4 and sum(len(containers(s)) for _, s in specs) == 5
    assert [p for where, spec in specs for p in security_problems(where, spec, uid)] == []

    where, spec = specs[0]
    for path in (
        "containers.0.securityContext.readOnlyRootFilesystem",
        "containers.0.securityContext.allowPrivilegeEscalation",
        "containers.0.securityContext.capabilities",
        "containers.0.resources.limits",
        "securityContext.seccompProfile",
        "securityContext.runAsUser",
    ):
        assert security_problems(where, broken(spec, path, ...), uid), path
    root = broken(spec, "securityContext.runAsNonRoot", False)
    assert security_problems(where, broken(root, "containers.0.securityContext.runAsNonRoot", ...), uid)


def test_web_rolls_out_without_downtime_and_scales_between_two_and_more() -> None:
    docs = applied_docs()

    def web_problems(docs: list[Doc]) -> list[str]:
        web = find(docs, "Deployment", "backbone-console-web")
        hpa = find(docs, "HorizontalPodAutoscaler", "backbone-console-web")
        pdb = find(docs, "PodDisruptionBudget", "backbone-console-web")
        service = find(docs, "Service", "backbone-console-web")
        labels = web["spec"]["template"]["metadata"]["labels"]
        ports = {p["name"] for p in web["spec"]["template"]["spec"]["containers"][0]["ports"]}
        problems = []
        if web["spec"]["replicas"] < 2 or hpa["spec"]["minReplicas"] < 2:
            problems.append("web runs fewer than 2 pods")
        if web["spec"]["strategy"] != {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}:
            problems.append("web is not a rolling update that keeps every pod until its successor is ready")
        if hpa["spec"]["scaleTargetRef"]["name"] != web["metadata"]["name"]:
            problems.append("the web autoscaler scales something else")
        if pdb["spec"].get("minAvailable", 0) >= hpa["spec"]["minReplicas"]:
            problems.append("the web disruption budget would block every node drain")
        for selector in (pdb["spec"]["selector"]["matchLabels"], service["spec"]["selector"]):
            if not selector.items() <= labels.items():
                problems.append(f"selector {selector} does not match the web pods")
        if service["spec"]["ports"][0]["targetPort"] not in ports:
            problems.append("the Service targets no port of the web container")
        return problems

    assert web_problems(docs) == []
    web = find(docs, "Deployment", "backbone-console-web")
    assert web_problems([broken(web, "spec.replicas", 1) if d is web else d for d in docs])
    assert web_problems([broken(web, "spec.strategy.rollingUpdate.maxUnavailable", 1) if d is web else d for d in docs])
    pdb = find(docs, "PodDisruptionBudget", "backbone-console-web")
    assert web_problems([broken(pdb, "spec.minAvailable", 2) if d is pdb else d for d in docs])


def test_exactly_one_beat_and_scalable_workers_sharing_the_exports() -> None:
    docs = applied_docs()

    def topology_problems(docs: list[Doc]) -> list[str]:
        beat = find(docs, "Deployment", "backbone-console-beat")
        problems = []
        if beat["spec"]["replicas"] != 1 or beat["spec"]["strategy"] != {"type": "Recreate"}:
            problems.append("beat must be one replica with the Recreate strategy (two would run every task twice)")
        targets = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
        if targets != {"backbone-console-web", "backbone-console-worker"}:
            problems.append(f"autoscaled: {sorted(targets)}, expected web and worker only")
        if any(d["apiVersion"] != "autoscaling/v2" for d in docs if d["kind"] == "HorizontalPodAutoscaler"):
            problems.append("an autoscaler is not autoscaling/v2")
        if not any(d["kind"] == "PodDisruptionBudget" and "maxUnavailable" in d["spec"] for d in docs):
            problems.append("no disruption budget lets workers drain one at a time")
        worker = find(docs, "Deployment", "backbone-console-worker")["spec"]["template"]["spec"]["containers"][0]
        if "inspect ping" not in " ".join(worker.get("livenessProbe", {}).get("exec", {}).get("command", [])):
            problems.append("the worker's liveness is not a Celery ping")
        return problems + exports_problems(docs)

    assert topology_problems(docs) == []
    beat = find(docs, "Deployment", "backbone-console-beat")
    assert topology_problems([broken(beat, "spec.replicas", 2) if d is beat else d for d in docs])
    assert topology_problems(
        [broken(beat, "spec.strategy", {"type": "RollingUpdate"}) if d is beat else d for d in docs]
    )
    worker = find(docs, "Deployment", "backbone-console-worker")
    no_exports = broken(worker, "spec.template.spec.containers.0.volumeMounts", [])
    assert topology_problems([no_exports if d is worker else d for d in docs])
    hpa = find(docs, "HorizontalPodAutoscaler", "backbone-console-worker")
    assert topology_problems([{**hpa, "apiVersion": "autoscaling/v1"} if d is hpa else d for d in docs])
    job = find(docs, "Job", "backbone-console-migrate")
    assert [c["args"][0] for c in containers(job["spec"]["template"]["spec"])] == ["migrate", "manage"]


def test_the_probes_ask_paths_the_console_serves() -> None:
    probes = [
        (f"{where} {c['name']} {kind}", c[kind]["httpGet"])
        for where, spec in pod_specs(applied_docs())
        for c in containers(spec)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        if "httpGet" in c.get(kind, {})
    ]
    assert len(probes) == 3
    for where, probe in probes:
        assert resolve(urlsplit(probe["path"]).path).url_name == "healthz", where
    with pytest.raises(Resolver404):
        resolve("/health")


def test_the_compose_file_validates_against_the_compose_specification(offline: None, tmp_path: Path) -> None:
    def compose_errors(path: Path) -> int:
        result = CliRunner().invoke(check_jsonschema, ["--builtin-schema", "vendor.compose-spec", str(path)])
        return result.exit_code

    assert compose_errors(COMPOSE_FILE) == 0
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    data["services"]["worker"]["restart_policy"] = "always"  # `restart` is the key; this one does not exist
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(yaml.safe_dump(data))
    assert compose_errors(bad) == 1
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    data["services"]["web"]["depends_on"]["kafka"]["condition"] = "service_ready"
    bad.write_text(yaml.safe_dump(data))
    assert compose_errors(bad) == 1


def test_every_variable_compose_sets_for_the_console_is_one_it_reads() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    console = {n: s for n, s in services.items() if s.get("image", "").startswith(IMAGE)}
    assert set(console) >= {"web", "worker", "beat"}
    set_vars = {k: f"compose {n}" for n, s in console.items() for k in s.get("environment", {})}
    assert "SECRET_KEY" in set_vars
    assert unread_variables(set_vars, env_reads()) == []
    assert unread_variables({**set_vars, "KAFKA_BOOTSTRAP_SERVER": "compose web"}, env_reads())


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (its built-in kustomize) is not installed")
def test_the_kustomize_build_validates_too(tmp_path: Path) -> None:
    """What `kubectl apply -k` sends: kustomize's output (namespace, labels, image set) is valid as well."""

    def build(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
        )

    result = build(K8S_DIR)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(docs) == len(applied_docs())
    assert [e for doc in docs for e in k8s_errors(doc)] == []
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"backbone-console"}
    images = {c["image"] for _, spec in pod_specs(docs) for c in containers(spec)}
    assert images == {"registry.example.com/backbone-console:0.1.0"}

    for path in K8S_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    kust = kustomization()
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({**kust, "resources": [*kust["resources"], "gone.yaml"]})
    )
    assert build(tmp_path).returncode != 0
