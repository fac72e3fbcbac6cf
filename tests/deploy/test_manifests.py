"""The plain Kubernetes manifests in deploy/k8s: valid against the Kubernetes OpenAPI schema (kubernetes-validate's
bundled, offline schemas, strict: unknown fields are errors), and true to the house rules — recommended labels,
non-root pods on a read-only root filesystem, requests and limits, probes, selectors that select, a drain that fits
in the grace period, and a config.yaml that modelpilot itself accepts.

The rules are functions returning the problems they find, so the tests below can also show that each one fails on
a manifest that breaks it."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from modelpilot.config import Settings, load_settings
from modelpilot.errors import ConfigError

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# Kubernetes releases whose schemas the manifests must satisfy: the oldest the README promises, and a newer one.
K8S_VERSIONS = ("1.30", "1.34")
IMAGE = "ghcr.io/modelpilot/modelpilot:0.1.0"
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
)
RUN_AS_USER = 10001
POD_KINDS = ("Deployment",)
NOT_APPLIED = ("kustomization.yaml",)  # not a Kubernetes object

Doc = dict[str, Any]


# --------------------------------------------------------------------------------------------- loading
def _load(path: Path) -> list[Doc]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for d in docs:
        assert isinstance(d, dict), f"{path.name}: every YAML document must be a mapping"
    return docs


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name not in NOT_APPLIED)


def all_objects() -> list[tuple[str, Doc]]:
    return [(p.name, d) for p in manifest_files() for d in _load(p)]


def objects_of(kind: str) -> list[Doc]:
    return [d for _, d in all_objects() if d["kind"] == kind]


def one(kind: str, name: str) -> Doc:
    found = [d for d in objects_of(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def config_yaml() -> str:
    text = one("ConfigMap", "modelpilot-config")["data"]["config.yaml"]
    assert isinstance(text, str)
    return text


def settings_of_configmap(tmp_path: Path) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(), encoding="utf-8")
    return load_settings(path)


def _obj_id(item: tuple[str, Doc]) -> str:
    return f"{item[0]}:{item[1]['kind']}/{item[1]['metadata']['name']}"


OBJECTS = all_objects()
DEPLOYMENTS = [d for _, d in OBJECTS if d["kind"] in POD_KINDS]


def _dep_id(d: Doc) -> str:
    return str(d["metadata"]["name"])


# --------------------------------------------------------------------------------------------- helpers
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
}


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity as a number (cores or bytes)."""
    m = _QUANTITY.match(str(value))
    assert m, f"not a quantity this test understands: {value!r}"
    return float(m.group(1)) * _FACTORS[m.group(2)]


def pod_spec(dep: Doc) -> Doc:
    spec = dep["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def containers(dep: Doc) -> Iterator[Doc]:
    spec = pod_spec(dep)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def effective(dep: Doc, container: Doc, key: str) -> Any:
    """A security setting as the kubelet sees it: the container's, else the pod's."""
    c = container.get("securityContext", {})
    if key in c:
        return c[key]
    return pod_spec(dep).get("securityContext", {}).get(key)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def env_value(container: Doc, name: str) -> Doc | None:
    for e in container.get("env", []):
        if e["name"] == name:
            assert isinstance(e, dict)
            return e
    return None


def named_port(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


def arg_after(container: Doc, flag: str) -> str | None:
    args = [*container.get("command", []), *container.get("args", [])]
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


# --------------------------------------------------------------------------------------------- house rules
def label_problems(obj: Doc) -> list[str]:
    problems = []
    where = [("metadata.labels", obj["metadata"].get("labels") or {})]
    if obj["kind"] in POD_KINDS:
        where.append(("pod template labels", obj["spec"]["template"]["metadata"].get("labels") or {}))
    for place, labels in where:
        expected = {
            "app.kubernetes.io/name": "modelpilot",
            "app.kubernetes.io/part-of": "modelpilot",
            "app.kubernetes.io/version": IMAGE.rsplit(":", 1)[1],  # the image's tag
        }
        for key in REQUIRED_LABELS:
            if not labels.get(key):
                problems.append(f"{place}: {key} missing")
            elif key in expected and labels[key] != expected[key]:
                problems.append(f"{place}: {key} must be {expected[key]!r}")
    if "namespace" in obj["metadata"]:
        problems.append("metadata.namespace is set (the manifests are namespace-agnostic: kubectl -n picks it)")
    return problems


def security_problems(dep: Doc) -> list[str]:
    problems = []
    spec = pod_spec(dep)
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append("pod shares a host namespace")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken must be false (modelpilot does not call the Kubernetes API)")
    for c in containers(dep):
        name = c["name"]
        if effective(dep, c, "runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        if effective(dep, c, "runAsUser") != RUN_AS_USER:
            problems.append(f"{name}: runAsUser must be {RUN_AS_USER}")
        if effective(dep, c, "privileged"):
            problems.append(f"{name}: privileged")
        if (effective(dep, c, "seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile must be RuntimeDefault")
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"] or caps.get("add"):
            problems.append(f"{name}: capabilities must drop ALL and add none")
    return problems


def resource_problems(dep: Doc) -> list[str]:
    problems = []
    for c in containers(dep):
        res = c.get("resources", {})
        requests, limits = res.get("requests", {}), res.get("limits", {})
        for kind in ("cpu", "memory", "ephemeral-storage"):
            if kind not in requests or kind not in limits:
                problems.append(f"{c['name']}: {kind} needs a request and a limit")
            elif quantity(requests[kind]) > quantity(limits[kind]):
                problems.append(f"{c['name']}: {kind} request above its limit")
    return problems


def volume_problems(dep: Doc, settings: Settings) -> list[str]:
    """The root filesystem is read-only: /tmp, home and the spool must be writable volumes that fit."""
    problems = []
    spec = pod_spec(dep)
    component = dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    disk_empty_dirs = sum(
        quantity(v["emptyDir"].get("sizeLimit", 0))
        for v in volumes.values()
        if "emptyDir" in v and v["emptyDir"].get("medium") != "Memory"
    )
    for c in spec["containers"]:
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        for m in mounts.values():
            if m["name"] not in volumes:
                problems.append(f"{c['name']}: mount {m['mountPath']} names no volume")
        for path, what in (
            ("/tmp", "/tmp"),
            (str(settings.home), "home"),
            (str(settings.events.spool.dir), "events.spool.dir"),
        ):
            m = mounts.get(path)
            vol = volumes.get(m["name"], {}) if m else {}
            if m is None or "emptyDir" not in vol or m.get("readOnly"):
                problems.append(f"{c['name']}: {what} ({path}) must be a writable emptyDir mount")
                continue
            if "sizeLimit" not in vol["emptyDir"]:
                problems.append(f"{c['name']}: the {what} emptyDir needs a sizeLimit")
        spool_mount = mounts.get(str(settings.events.spool.dir))
        if spool_mount and "emptyDir" in volumes.get(spool_mount["name"], {}):
            limit = volumes[spool_mount["name"]]["emptyDir"].get("sizeLimit")
            processes = settings.serving.workers if component == "serve" else 1  # each holds a spool of its own
            if limit is not None and processes * settings.events.spool.max_bytes >= quantity(limit):
                problems.append(f"{c['name']}: events.spool.max_bytes per process does not fit the spool's sizeLimit")
        artifacts = mounts.get(str(settings.artifacts_dir))
        if artifacts is None or "persistentVolumeClaim" not in volumes.get(artifacts["name"], {}):
            problems.append(f"{c['name']}: the artifact store ({settings.artifacts_dir}) must be the shared PVC")
        eph = c.get("resources", {}).get("limits", {}).get("ephemeral-storage")
        if eph is not None and quantity(eph) < disk_empty_dirs:
            problems.append(f"{c['name']}: ephemeral-storage limit is below the emptyDirs' sizeLimits")
    return problems


def wiring_problems(dep: Doc, secret: Doc) -> list[str]:
    """Image, command, the config file and the store URL reach the process."""
    problems = []
    spec = pod_spec(dep)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        if c.get("image") != IMAGE:
            problems.append(f"{c['name']}: image must be {IMAGE}")
        if c.get("command") != ["modelpilot"]:
            problems.append(f"{c['name']}: command must be the modelpilot console script")
        cfg = env_value(c, "MODELPILOT_CONFIG")
        if cfg is None or "value" not in cfg:
            problems.append(f"{c['name']}: MODELPILOT_CONFIG is not set")
        else:
            cfg_path = Path(cfg["value"])
            mount = next((m for m in c.get("volumeMounts", []) if m["mountPath"] == str(cfg_path.parent)), None)
            cm = volumes.get(mount["name"], {}).get("configMap") if mount else None
            if cm is None or cm.get("name") != "modelpilot-config" or cfg_path.name != "config.yaml":
                problems.append(f"{c['name']}: MODELPILOT_CONFIG does not point at the config map's config.yaml")
        store = env_value(c, "MODELPILOT_STORE")
        ref = (store or {}).get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("name") != secret["metadata"]["name"] or ref.get("key") not in secret.get("stringData", {}):
            problems.append(f"{c['name']}: MODELPILOT_STORE must come from the store Secret's key")
    return problems


def probe_problems(dep: Doc, settings: Settings) -> list[str]:
    component = dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    problems = []
    for c in pod_spec(dep)["containers"]:
        live, ready = c.get("livenessProbe", {}).get("httpGet"), c.get("readinessProbe", {}).get("httpGet")
        if component == "serve":
            port = int(arg_after(c, "--port") or settings.serving.port)
            if arg_after(c, "--host") != "0.0.0.0":
                problems.append("serve must bind to 0.0.0.0 to be reachable from the Service")
            for probe, path in ((live, "/v2/health/live"), (ready, "/v2/health/ready")):
                if probe is None or probe.get("path") != path or named_port(c, probe["port"]) != port:
                    problems.append(f"serve: probe on {path} (port {port}) missing or wrong")
        elif component in ("monitor", "control"):
            metrics_port = arg_after(c, "--metrics-port")
            if arg_after(c, "--metrics-host") != "0.0.0.0":  # the default, loopback, is out of the kubelet's reach
                problems.append(f"{component}: --metrics-host must be 0.0.0.0")
            if metrics_port is None:
                problems.append(f"{component}: --metrics-port missing")
            elif live is None or live.get("path") != "/metrics" or named_port(c, live["port"]) != int(metrics_port):
                problems.append(f"{component}: liveness must GET /metrics on --metrics-port")
    return problems


def grace_problems(dep: Doc, settings: Settings) -> list[str]:
    """serve: SIGTERM comes after the preStop hook; the drain must end before the grace period does."""
    spec = pod_spec(dep)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    problems = []
    for c in spec["containers"]:
        pre_stop = c.get("lifecycle", {}).get("preStop", {})
        slept = pre_stop.get("sleep", {}).get("seconds", 0)
        if grace <= slept + settings.serving.drain_timeout_s:
            problems.append(
                f"{c['name']}: terminationGracePeriodSeconds {grace} <= preStop {slept} s + drain "
                f"{settings.serving.drain_timeout_s} s"
            )
    return problems


def pdb_problems(pdb: Doc, deployments: list[Doc]) -> list[str]:
    selector = pdb["spec"]["selector"].get("matchLabels", {})
    chosen = [d for d in deployments if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
    if len(chosen) != 1:
        return [f"{pdb['metadata']['name']}: selects the pods of {len(chosen)} Deployments, not one"]
    replicas = chosen[0]["spec"].get("replicas", 1)
    spec = pdb["spec"]
    allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec.get("minAvailable", replicas)
    if not isinstance(allowed, int) or allowed < 1 or allowed >= replicas:
        return [f"{pdb['metadata']['name']}: with {replicas} replicas it must allow 1..{replicas - 1} disruptions"]
    return []


# --------------------------------------------------------------------------------------------- tests
def test_the_manifests_are_there() -> None:
    names = {p.name for p in manifest_files()}
    assert {"configmap.yaml", "secret.example.yaml", "serve.yaml", "monitor.yaml", "control.yaml", "stream.yaml"} <= (
        names
    )
    kinds = sorted((d["kind"], d["metadata"]["name"]) for _, d in OBJECTS)
    assert ("Deployment", "modelpilot-serve") in kinds
    assert ("Service", "modelpilot-serve") in kinds
    assert {d["metadata"]["name"] for d in DEPLOYMENTS} == {
        "modelpilot-serve",
        "modelpilot-monitor",
        "modelpilot-control",
        "modelpilot-stream-credit",
    }
    assert {d["metadata"]["name"] for d in objects_of("PodDisruptionBudget")} >= {
        "modelpilot-serve",
        "modelpilot-monitor",
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("item", OBJECTS, ids=_obj_id)
def test_valid_against_the_kubernetes_schema(item: tuple[str, Doc], version: str) -> None:
    try:
        kubernetes_validate.validate(item[1], version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{_obj_id(item)} is not a valid Kubernetes {version} object: {str(exc).splitlines()[0]}")


def test_schema_validation_catches_mistakes() -> None:
    dep = copy.deepcopy(one("Deployment", "modelpilot-serve"))
    pod_spec(dep)["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[0], strict=True)
    dep = copy.deepcopy(one("Deployment", "modelpilot-serve"))
    dep["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kust = _load(K8S_DIR / "kustomization.yaml")[0]
    assert kust["kind"] == "Kustomization"
    assert "namespace" not in kust
    assert sorted(kust["resources"]) == sorted(p.name for p in manifest_files() if p.name != "secret.example.yaml")


@pytest.mark.parametrize("item", OBJECTS, ids=_obj_id)
def test_recommended_labels_and_no_namespace(item: tuple[str, Doc]) -> None:
    assert label_problems(item[1]) == []


def test_label_rule_can_fail() -> None:
    dep = copy.deepcopy(one("Deployment", "modelpilot-monitor"))
    del dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"]
    dep["metadata"]["namespace"] = "prod"
    assert len(label_problems(dep)) == 2


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_selector_picks_the_pod_template_with_stable_labels(dep: Doc) -> None:
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selects(selector, dep["spec"]["template"]["metadata"]["labels"])
    # a selector is immutable: a label that changes with each release would make upgrades fail
    assert "app.kubernetes.io/version" not in selector
    others = [d for d in DEPLOYMENTS if d is not dep]
    assert not any(selects(selector, d["spec"]["template"]["metadata"]["labels"]) for d in others)


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_pods_run_as_non_root_on_a_read_only_root(dep: Doc) -> None:
    assert security_problems(dep) == []


def test_security_rule_can_fail() -> None:
    dep = copy.deepcopy(one("Deployment", "modelpilot-control"))
    c = pod_spec(dep)["containers"][0]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    c["securityContext"]["capabilities"] = {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    del c["securityContext"]["runAsNonRoot"]
    del pod_spec(dep)["securityContext"]["runAsNonRoot"]
    assert len(security_problems(dep)) == 3


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_requests_and_limits(dep: Doc) -> None:
    assert resource_problems(dep) == []


def test_resource_rule_can_fail() -> None:
    dep = copy.deepcopy(one("Deployment", "modelpilot-stream-credit"))
    res = pod_spec(dep)["containers"][0]["resources"]
    del res["limits"]["memory"]
    res["requests"]["cpu"] = "3"
    assert len(resource_problems(dep)) == 2


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_writable_volumes_for_tmp_home_and_spool(dep: Doc, tmp_path: Path, clean_env: None) -> None:
    assert volume_problems(dep, settings_of_configmap(tmp_path)) == []


def test_volume_rule_can_fail(tmp_path: Path, clean_env: None) -> None:
    settings = settings_of_configmap(tmp_path)
    dep = copy.deepcopy(one("Deployment", "modelpilot-serve"))
    spec = pod_spec(dep)
    spec["containers"][0]["volumeMounts"] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] != "tmp"]
    for v in spec["volumes"]:
        if v["name"] == "spool":
            v["emptyDir"]["sizeLimit"] = "512Mi"  # smaller than events.spool.max_bytes
    assert len(volume_problems(dep, settings)) == 2


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_image_config_and_store_url_reach_the_process(dep: Doc) -> None:
    assert wiring_problems(dep, one("Secret", "modelpilot-store")) == []


def test_wiring_rule_can_fail() -> None:
    dep = copy.deepcopy(one("Deployment", "modelpilot-monitor"))
    c = pod_spec(dep)["containers"][0]
    c["image"] = "ghcr.io/modelpilot/modelpilot:latest"
    c["env"] = [e for e in c["env"] if e["name"] != "MODELPILOT_STORE"]
    assert len(wiring_problems(dep, one("Secret", "modelpilot-store"))) == 2


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_probes(dep: Doc, tmp_path: Path, clean_env: None) -> None:
    assert probe_problems(dep, settings_of_configmap(tmp_path)) == []


def test_probe_rule_can_fail(tmp_path: Path, clean_env: None) -> None:
    settings = settings_of_configmap(tmp_path)
    serve = copy.deepcopy(one("Deployment", "modelpilot-serve"))
    pod_spec(serve)["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/v2/health/live"
    control = copy.deepcopy(one("Deployment", "modelpilot-control"))
    pod_spec(control)["containers"][0]["livenessProbe"]["httpGet"]["port"] = 8000
    monitor = copy.deepcopy(one("Deployment", "modelpilot-monitor"))
    args = pod_spec(monitor)["containers"][0]["args"]
    del args[args.index("--metrics-host") : args.index("--metrics-host") + 2]
    assert len(probe_problems(serve, settings)) == 1
    assert len(probe_problems(control, settings)) == 1
    assert len(probe_problems(monitor, settings)) == 1


def test_serve_has_time_to_drain(tmp_path: Path, clean_env: None) -> None:
    settings = settings_of_configmap(tmp_path)
    serve = one("Deployment", "modelpilot-serve")
    assert grace_problems(serve, settings) == []
    short = copy.deepcopy(serve)
    pod_spec(short)["terminationGracePeriodSeconds"] = int(settings.serving.drain_timeout_s)
    assert len(grace_problems(short, settings)) == 1


@pytest.mark.parametrize("pdb", objects_of("PodDisruptionBudget"), ids=lambda p: p["metadata"]["name"])
def test_pdb_selects_one_deployment_and_lets_a_node_drain(pdb: Doc) -> None:
    assert pdb_problems(pdb, DEPLOYMENTS) == []


def test_pdb_rule_can_fail() -> None:
    pdb = copy.deepcopy(one("PodDisruptionBudget", "modelpilot-serve"))
    pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "server"
    assert len(pdb_problems(pdb, DEPLOYMENTS)) == 1
    pdb = copy.deepcopy(one("PodDisruptionBudget", "modelpilot-monitor"))
    del pdb["spec"]["maxUnavailable"]
    pdb["spec"]["minAvailable"] = one("Deployment", "modelpilot-monitor")["spec"]["replicas"]
    assert len(pdb_problems(pdb, DEPLOYMENTS)) == 1


def test_service_selects_the_serve_pods_on_their_port(tmp_path: Path, clean_env: None) -> None:
    svc = one("Service", "modelpilot-serve")
    selector = svc["spec"]["selector"]
    chosen = [d for d in DEPLOYMENTS if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
    assert [d["metadata"]["name"] for d in chosen] == ["modelpilot-serve"]
    container = pod_spec(chosen[0])["containers"][0]
    port = int(arg_after(container, "--port") or settings_of_configmap(tmp_path).serving.port)
    assert [named_port(container, p["targetPort"]) for p in svc["spec"]["ports"]] == [port]


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=_dep_id)
def test_prometheus_annotations_name_a_container_port(dep: Doc) -> None:
    annotations = dep["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true":
        return
    ports = {p["containerPort"] for c in pod_spec(dep)["containers"] for p in c.get("ports", [])}
    assert int(annotations["prometheus.io/port"]) in ports
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_monitor_workers_do_not_outnumber_partitions(tmp_path: Path, clean_env: None) -> None:
    settings = settings_of_configmap(tmp_path)
    assert one("Deployment", "modelpilot-monitor")["spec"]["replicas"] <= settings.events.kafka.partitions


# --------------------------------------------------------------------------------------------- config and secret
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The config map alone decides: no MODELPILOT_* variable of the test run leaks in."""
    for key in list(os.environ):
        if key.startswith("MODELPILOT_"):
            monkeypatch.delenv(key)


def test_configmap_config_loads_with_modelpilot(tmp_path: Path, clean_env: None) -> None:
    settings = settings_of_configmap(tmp_path)
    assert settings.events.bus == "kafka"
    assert settings.serving.host == "0.0.0.0"
    assert settings.serving.workers == 1  # replicas scale serving; each process would hold a spool of its own
    assert settings.events.spool.dir is not None and settings.events.spool.dir.is_absolute()
    assert settings.home.is_absolute()


def test_configmap_with_a_wrong_key_is_refused(tmp_path: Path, clean_env: None) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml().replace("bus: kafka", "buss: kafka"), encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(path)


def test_secret_is_a_clear_example_with_a_store_url_modelpilot_accepts(tmp_path: Path, clean_env: None) -> None:
    secret = one("Secret", "modelpilot-store")
    url = secret["stringData"]["store-url"]
    assert "CHANGE-ME" in url
    assert "EXAMPLE" in (K8S_DIR / "secret.example.yaml").read_text(encoding="utf-8")
    assert load_settings(home=tmp_path, store=url).store_url == url
