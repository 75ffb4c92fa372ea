"""Readers and checks for deploy/kubernetes and docker-compose.yml (used by test_manifests.py).

Each check returns a list of problems rather than asserting, so a test can run it on the real
files (no problem) and on a deliberately broken copy (a problem), proving the check can fail.
"""

from __future__ import annotations

import ast
import copy
import posixpath
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "kubernetes"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# The code whose environment reads count (tests, benchmarks and migrations set nothing in production).
CODE_DIRS = ("backbone_admin", "topics", "streams")
IMAGE = "backbone-console"
POD_KINDS = {"Deployment", "Job"}

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> Doc:
    data = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    return data


def applied_docs() -> list[Doc]:
    """Every object `kubectl apply -k deploy/kubernetes` creates (before kustomize's edits)."""
    return [doc for name in kustomization()["resources"] for doc in load_docs(K8S_DIR / name)]


def all_docs() -> list[Doc]:
    """The applied objects and the example templates beside them."""
    return [
        doc for path in sorted(K8S_DIR.glob("*.yaml")) if path.name != "kustomization.yaml" for doc in load_docs(path)
    ]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] in POD_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def containers(spec: Doc) -> list[Doc]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def broken(doc: Doc, path: str, value: Any) -> Doc:
    """A deep copy of `doc` with the dotted `path` set to `value` (or removed when value is ...)."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


# --- environment variables -------------------------------------------------------------------


def _name_of(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_os_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)


def _reads(call: ast.Call) -> bool:
    """env.str(...), env(...), os.getenv(...), os.environ.get/setdefault/pop(...)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "env"
    if not isinstance(func, ast.Attribute):
        return False
    on_env = isinstance(func.value, ast.Name) and func.value.id == "env"
    on_environ = func.attr in {"get", "setdefault", "pop"} and _is_os_environ(func.value)
    return on_env or on_environ or func.attr == "getenv"


def _environ_key(node: ast.AST) -> str | None:
    """X in os.environ["X"] and "X" in os.environ."""
    if isinstance(node, ast.Subscript) and _is_os_environ(node.value):
        return _name_of(node.slice)
    if isinstance(node, ast.Compare) and any(_is_os_environ(c) for c in node.comparators):
        return _name_of(node.left)
    return None


def python_env_reads(source: str) -> set[str]:
    """Names read by env.str/int/...("X"), env("X"), env_secret("X") (+ X_FILE), os.environ / os.getenv."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and (name := _name_of(node.args[0])):
            if isinstance(node.func, ast.Name) and node.func.id == "env_secret":
                names |= {name, f"{name}_FILE"}
            elif _reads(node):
                names.add(name)
        elif name := _environ_key(node):
            names.add(name)
    return names


def env_reads() -> set[str]:
    """Every variable the console's code and its entry point read."""
    names: set[str] = set()
    files = [
        ROOT / "manage.py",
        *(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts),
    ]
    for path in files:
        names |= python_env_reads(path.read_text())
    script = ENTRYPOINT.read_text()
    names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", script))
    names |= set(re.findall(r"os\.environ\.get\(['\"]([A-Z_][A-Z0-9_]*)", script))
    return names


def clusters_file_refs(text: str) -> set[str]:
    """`${NAME}` references in a clusters file's values (comments do not count)."""
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            refs.update(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(text))
    return refs


def manifest_env(docs: list[Doc], secret_keys: set[str]) -> dict[str, str]:
    """Variable → where it is set: env entries, envFrom ConfigMaps (their keys) and Secrets (the example's keys)."""
    found: dict[str, str] = {}
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            here = f"{where} {container['name']}"
            for entry in container.get("env", []):
                found[entry["name"]] = here
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    for key in config_maps[source["configMapRef"]["name"]]["data"]:
                        found[key] = f"{here} (ConfigMap {source['configMapRef']['name']})"
                if "secretRef" in source:
                    for key in secret_keys:
                        found[key] = f"{here} (Secret {source['secretRef']['name']})"
    return found


def unread_variables(set_vars: dict[str, str], read: set[str]) -> list[str]:
    return [
        f"{name} (set by {where}) is read by nothing" for name, where in sorted(set_vars.items()) if name not in read
    ]


# --- the entry point ---------------------------------------------------------------------------


def entrypoint_roles() -> set[str]:
    """The named branches of the entry point's `case "$role" in` (its `*` fallback excluded)."""
    script = ENTRYPOINT.read_text()
    block = script.split('case "$role" in', 1)[1].split("\nesac", 1)[0]
    labels = re.findall(r"^ {4}([^\s()][^()]*)\)\s*$", block, flags=re.MULTILINE)
    return {role.strip() for label in labels for role in label.split("|")} - {"*"}


def run_entrypoint(args: list[str], stubs: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run docker/entrypoint.sh with python, daphne and celery replaced by stubs that log their argv."""
    log = stubs / "calls.log"
    for program in ("python", "daphne", "celery"):
        stub = stubs / program
        if not stub.exists():
            stub.write_text(f'#!/bin/sh\necho "{program} $*" >> "$STUB_LOG"\n')
            stub.chmod(0o755)
    log.write_text("")
    env = {**(env or {}), "PATH": f"{stubs}:/usr/bin:/bin", "STUB_LOG": str(log), "HOME": str(stubs)}
    result = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), *args], env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
    )
    return result.returncode, log.read_text().splitlines()


def entrypoint_problems(args: list[str], stubs: Path) -> list[str]:
    """Why the image's entry point would not run `args` as one of its roles (empty: it would)."""
    if not args or args[0] not in entrypoint_roles():
        return [f"{args}: not one of the entry point's roles {sorted(entrypoint_roles())}"]
    code, calls = run_entrypoint(args, stubs)
    if code != 0 or not calls:
        return [f"{args}: entry point exited {code} having run {calls}"]
    if args[0] == "manage":
        return manage_command_problems(args[1:])
    return []


def manage_command_problems(argv: list[str]) -> list[str]:
    """Parse `manage.py <argv>` with the command's own parser, as manage.py would."""
    from django.core.management import CommandError, get_commands, load_command_class

    if not argv or argv[0] not in get_commands():
        return [f"manage {argv}: no such manage.py command"]
    command = load_command_class(get_commands()[argv[0]], argv[0])
    try:
        command.create_parser("manage.py", argv[0]).parse_args(argv[1:])
    except CommandError as exc:
        return [f"manage {argv}: {exc}"]
    return []


# --- pod security and resources -------------------------------------------------------------


def dockerfile_uid() -> int:
    match = re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text())
    assert match, "the Dockerfile creates no user with --uid"
    return int(match.group(1))


def security_problems(where: str, spec: Doc, uid: int) -> list[str]:
    problems: list[str] = []
    pod = spec.get("securityContext", {})
    if pod.get("runAsUser") != uid:
        problems.append(f"{where}: runAsUser is {pod.get('runAsUser')}, the image's user is {uid}")
    empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    for c in containers(spec):
        here = f"{where} {c['name']}"
        ctx = c.get("securityContext", {})
        if ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            problems.append(f"{here}: runAsNonRoot is not true")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{here}: readOnlyRootFilesystem is not true")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{here}: allowPrivilegeEscalation is not false")
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
            problems.append(f"{here}: capabilities do not drop ALL")
        seccomp = ctx.get("seccompProfile", pod.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{here}: seccompProfile is not RuntimeDefault")
        resources = c.get("resources", {})
        for bound in ("requests", "limits"):
            for what in ("cpu", "memory"):
                if what not in resources.get(bound, {}):
                    problems.append(f"{here}: no {what} in resources.{bound}")
        if c.get("image", "").split(":")[0] != IMAGE:
            problems.append(f"{here}: image {c.get('image')} is not {IMAGE} (set by kustomization.yaml images)")
        # Where the console writes, with a read-only root: /tmp (beat's schedule, temporary files) and var/.
        writable = {m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in empty_dirs}
        for needed in ("/tmp", "/app/var"):
            if needed not in writable:
                problems.append(f"{here}: no emptyDir mounted at {needed}")
    return problems


def config_mount_problems(docs: list[Doc]) -> list[str]:
    """The clusters and permissions files sit where BACKBONE_*_FILE say, in every pod."""
    env = find(docs, "ConfigMap", "backbone-console-env")["data"]
    files = find(docs, "ConfigMap", "backbone-console-files")
    problems: list[str] = []
    for variable in ("BACKBONE_CLUSTERS_FILE", "BACKBONE_PERMISSIONS_FILE"):
        directory, name = posixpath.split(env.get(variable, ""))
        if name not in files["data"]:
            problems.append(f"{variable}={env.get(variable)}: no key {name!r} in ConfigMap backbone-console-files")
        for where, spec in pod_specs(docs):
            volumes = {
                v["name"]
                for v in spec.get("volumes", [])
                if v.get("configMap", {}).get("name") == "backbone-console-files"
            }
            for c in containers(spec):
                if not any(m["name"] in volumes and m["mountPath"] == directory for m in c.get("volumeMounts", [])):
                    problems.append(
                        f"{where} {c['name']}: ConfigMap backbone-console-files is not mounted at {directory}"
                    )
    return problems


def exports_problems(docs: list[Doc]) -> list[str]:
    """Web pods serve the files workers write: both mount one ReadWriteMany claim at EXPORT_ROOT."""
    root = find(docs, "ConfigMap", "backbone-console-env")["data"].get("EXPORT_ROOT")
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    problems: list[str] = []
    for name in ("backbone-console-web", "backbone-console-worker"):
        spec = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        volumes = {
            v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        }
        mounted = {
            volumes[m["name"]]
            for c in spec["containers"]
            for m in c.get("volumeMounts", [])
            if m["name"] in volumes and m["mountPath"] == root
        }
        if len(mounted) != 1 or "ReadWriteMany" not in claims[next(iter(mounted))]["spec"]["accessModes"]:
            problems.append(f"{name}: no ReadWriteMany claim mounted at EXPORT_ROOT={root}")
    return problems
