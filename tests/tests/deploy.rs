//! The deployment files parse and carry what an operator relies on: every service, a
//! three-node NATS cluster and PostgreSQL in compose; probes, resources and replicas for every
//! Kubernetes Deployment; and a migration Job.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use residence_launcher::project_root;
use serde_norway::Value;

const SERVICES: [&str; 6] = [
    "intake", "review", "decision", "delivery", "courier", "elicense",
];

/// Every YAML document in `file`.
fn documents(file: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    text.split("\n---\n")
        .map(|document| {
            serde_norway::from_str(document).with_context(|| format!("parse {}", file.display()))
        })
        .collect()
}

fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(*key))
}

#[test]
fn compose_runs_every_service_on_a_nats_cluster_and_postgres() -> Result<()> {
    let root = project_root()?;
    let compose = &documents(&root.join("deploy/compose.yaml"))?[0];
    let services = get(compose, &["services"]).context("no services")?;
    for name in SERVICES
        .iter()
        .chain(&["nats-1", "nats-2", "nats-3", "postgres", "migrate"])
    {
        ensure!(services.get(*name).is_some(), "compose has no {name}");
    }
    let otel = get(services, &["otel-collector", "profiles"]).context("no collector profile")?;
    ensure!(otel.as_sequence().is_some_and(|p| !p.is_empty()));
    for node in ["nats-1", "nats-2", "nats-3"] {
        let conf = root.join(format!("deploy/nats/cluster/{node}.conf"));
        ensure!(conf.is_file(), "{} is missing", conf.display());
    }
    Ok(())
}

#[test]
fn every_kubernetes_deployment_has_probes_resources_and_replicas() -> Result<()> {
    let root = project_root()?;
    let k8s = root.join("deploy/k8s");
    let mut deployments = Vec::new();
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&k8s)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            for document in documents(&path)? {
                let kind = get(&document, &["kind"]).and_then(Value::as_str);
                kinds.push(kind.unwrap_or_default().to_owned());
                if kind == Some("Deployment") {
                    deployments.push(document);
                }
            }
        }
    }
    for kind in ["StatefulSet", "Job", "ConfigMap", "Secret"] {
        ensure!(kinds.iter().any(|k| k == kind), "no {kind} in deploy/k8s");
    }

    let mut names = Vec::new();
    for deployment in &deployments {
        let name = get(deployment, &["metadata", "name"])
            .and_then(Value::as_str)
            .context("a Deployment without a name")?;
        names.push(name.to_owned());
        let replicas = get(deployment, &["spec", "replicas"]).and_then(Value::as_u64);
        ensure!(replicas >= Some(2), "{name} runs fewer than two replicas");
        let containers = get(deployment, &["spec", "template", "spec", "containers"])
            .and_then(Value::as_sequence)
            .context("no containers")?;
        for container in containers {
            let ready = get(container, &["readinessProbe", "httpGet", "path"]);
            ensure!(
                ready.and_then(Value::as_str) == Some("/readyz"),
                "{name}: readiness"
            );
            let live = get(container, &["livenessProbe", "httpGet", "path"]);
            ensure!(
                live.and_then(Value::as_str) == Some("/healthz"),
                "{name}: liveness"
            );
            ensure!(
                get(container, &["resources", "limits"]).is_some(),
                "{name}: limits"
            );
            ensure!(
                get(container, &["resources", "requests"]).is_some(),
                "{name}: requests"
            );
        }
    }
    names.sort();
    let mut expected: Vec<String> = SERVICES.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    ensure!(
        names == expected,
        "Deployments {names:?}, expected {expected:?}"
    );
    Ok(())
}
