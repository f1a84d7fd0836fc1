//! A three-node JetStream cluster started from the configuration shipped in
//! `deploy/nats/cluster/`, with its ports, routes and stores moved to free loopback ports and
//! a throwaway folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::process::{Child, Command};

use crate::nats::health_status;
use crate::net::{Poll, free_ports};
use crate::process;

/// How long the nodes may take to elect a JetStream leader after they start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a node may take to shut down after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The shipped node files, in node order.
pub const CLUSTER_CONFIGS: [&str; 3] = [
    "deploy/nats/cluster/nats-1.conf",
    "deploy/nats/cluster/nats-2.conf",
    "deploy/nats/cluster/nats-3.conf",
];

/// The ports one node listens on.
#[derive(Clone, Copy, Debug)]
struct Ports {
    client: u16,
    route: u16,
    monitor: u16,
}

/// One node of a [`NatsCluster`]: a `nats-server` child process, killed when dropped.
pub struct ClusterNode {
    name: String,
    binary: PathBuf,
    dir: PathBuf,
    ports: Ports,
    child: Option<Child>,
}

impl ClusterNode {
    /// The node's `server_name`, such as `nats-2`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.ports.client)
    }

    /// The HTTP monitoring port (`/healthz`, `/jsz`).
    pub fn monitor_port(&self) -> u16 {
        self.ports.monitor
    }

    /// The node's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("nats.log")
    }

    /// Whether the node's process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the node with SIGKILL, as a crash or a lost machine would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(error) = process::kill(&mut child).await
        {
            tracing::warn!(node = %self.name, %error, "could not kill nats-server");
        }
    }

    /// Stops the node with SIGTERM, killing it if it has not exited after 10 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(error) = process::terminate(&mut child, STOP_GRACE).await
        {
            tracing::warn!(node = %self.name, %error, "could not stop nats-server");
        }
    }

    /// Starts a stopped node again with its configuration and store, and waits until it has
    /// caught up with the cluster. Does nothing while the node runs.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.launch()?;
        self.wait_ready().await
    }

    fn launch(&mut self) -> Result<()> {
        let log_file = self.log_file();
        let log = process::open_log(&log_file)?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the node reports healthy, which in a cluster means JetStream has a leader
    /// and the node is current with it.
    async fn wait_ready(&mut self) -> Result<()> {
        let mut poll = Poll::new(READY_TIMEOUT);
        loop {
            let child = self.child.as_mut().context("nats-server is not running")?;
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!(
                    "{} exited with {status} before becoming ready; last log lines:\n{}",
                    self.name,
                    process::tail(&self.log_file(), 20)
                );
            }
            if health_status(self.ports.monitor, "/healthz").await == Some(200) {
                return Ok(());
            }
            if !poll.wait().await {
                bail!(
                    "{} did not report healthy within {READY_TIMEOUT:?}; last log lines:\n{}",
                    self.name,
                    process::tail(&self.log_file(), 20)
                );
            }
        }
    }
}

/// Three `nats-server` processes forming a JetStream cluster on loopback.
pub struct NatsCluster {
    nodes: Vec<ClusterNode>,
}

impl NatsCluster {
    /// Starts one node per file of [`CLUSTER_CONFIGS`] under `root`, each in `<dir>/<name>`
    /// with a copy of its file whose listen addresses, routes and store folder are moved to
    /// free loopback ports and that folder. The partner accounts the files include are left
    /// out: the cluster runs with one account. Waits until every node is healthy.
    pub async fn start(binary: &Path, dir: &Path, root: &Path) -> Result<NatsCluster> {
        let shipped = CLUSTER_CONFIGS
            .iter()
            .map(|file| {
                let path = root.join(file);
                std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        let ports: Vec<Ports> = free_ports(3 * shipped.len())
            .chunks(3)
            .map(|chunk| Ports {
                client: chunk[0],
                route: chunk[1],
                monitor: chunk[2],
            })
            .collect();

        let mut nodes = Vec::new();
        for (index, text) in shipped.iter().enumerate() {
            let name = format!("nats-{}", index + 1);
            let node_dir = dir.join(&name);
            std::fs::create_dir_all(&node_dir)
                .with_context(|| format!("create nats folder {}", node_dir.display()))?;
            let config = localise(text, index, &ports, &node_dir.join("jetstream"))
                .with_context(|| format!("adapt {}", CLUSTER_CONFIGS[index]))?;
            std::fs::write(node_dir.join("nats.conf"), config)?;
            let mut node = ClusterNode {
                name,
                binary: binary.to_path_buf(),
                dir: node_dir,
                ports: ports[index],
                child: None,
            };
            node.launch()?;
            nodes.push(node);
        }
        for node in &mut nodes {
            node.wait_ready().await?;
        }
        Ok(NatsCluster { nodes })
    }

    /// The client URLs of every node, comma-separated, as `NATS_URL` takes them.
    pub fn url_list(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(ClusterNode::url).collect();
        urls.join(",")
    }

    /// The nodes, in the order of [`CLUSTER_CONFIGS`].
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// The node named `name`, such as `nats-2`, to kill or start again.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut ClusterNode> {
        self.nodes.iter_mut().find(|node| node.name == name)
    }

    /// Stops every node.
    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            node.stop().await;
        }
    }
}

/// The shipped node file `text` of node `index`, listening on `ports[index]` on loopback,
/// routing to every node's loopback route port and keeping its store in `store`. Fails if the
/// file no longer has the shape this expects, so a changed file is noticed here.
fn localise(text: &str, index: usize, ports: &[Ports], store: &Path) -> Result<String> {
    let own = ports[index];
    let mut replacements = vec![
        ("host: 0.0.0.0".to_owned(), "host: 127.0.0.1".to_owned()),
        ("port: 4222".to_owned(), format!("port: {}", own.client)),
        (
            "http: 0.0.0.0:8222".to_owned(),
            format!("http: 127.0.0.1:{}", own.monitor),
        ),
        (
            "listen: 0.0.0.0:6222".to_owned(),
            format!("listen: 127.0.0.1:{}", own.route),
        ),
        (
            "store_dir: \"/data/jetstream\"".to_owned(),
            format!("store_dir: {:?}", store.display().to_string()),
        ),
        ("include \"accounts.conf\"".to_owned(), String::new()),
        (
            "key: $RESIDENCE_NATS_JETSTREAM_KEY".to_owned(),
            format!("key: \"{}\"", store_key(store)),
        ),
    ];
    for (node, node_ports) in ports.iter().enumerate() {
        replacements.push((
            format!("nats-route://nats-{}:6222", node + 1),
            format!("nats-route://127.0.0.1:{}", node_ports.route),
        ));
    }

    let mut localised = text.to_owned();
    for (shipped, local) in replacements {
        ensure!(
            localised.contains(&shipped),
            "expected `{shipped}` in the shipped file"
        );
        localised = localised.replace(&shipped, &local);
    }
    Ok(localised)
}

/// The store encryption key of one node of a test run, named after its store folder. Each
/// node encrypts only its own store, so the nodes need not agree on it.
fn store_key(store: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    store.hash(&mut hasher);
    format!("test-store-key-{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_files_are_moved_to_loopback() {
        let root = crate::project_root().unwrap();
        let text = std::fs::read_to_string(root.join(CLUSTER_CONFIGS[1])).unwrap();
        let ports: Vec<Ports> = (0..3)
            .map(|n| Ports {
                client: 10_000 + n,
                route: 11_000 + n,
                monitor: 12_000 + n,
            })
            .collect();
        let local = localise(&text, 1, &ports, Path::new("/tmp/store")).unwrap();
        assert!(local.contains("server_name: nats-2"));
        assert!(local.contains("port: 10001"));
        assert!(local.contains("listen: 127.0.0.1:11001"));
        assert!(local.contains("nats-route://127.0.0.1:11000"));
        assert!(local.contains("nats-route://127.0.0.1:11002"));
        assert!(!local.contains("0.0.0.0"));
        assert!(!local.contains("include \"accounts.conf\""));
        assert!(local.contains("cipher: chachapoly"));
        assert!(!local.contains("$RESIDENCE_NATS_JETSTREAM_KEY"));
    }
}
