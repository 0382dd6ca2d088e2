//! The deployment files agree with the server and with each other: every YAML file under
//! `deploy/k8s/` and `docker-compose.yml` parses, and the structure they depend on holds.
//!
//! - Kubernetes: a StatefulSet of 3 behind a headless Service (publishing not-ready pods, since
//!   peers must find each other before any pod is ready), a client Service, a PodDisruptionBudget
//!   of one; readiness on `/ready`, liveness on `/health`, both on the admin port; node ids from
//!   the pod names, and an `--initial-cluster` naming exactly the StatefulSet's pods.
//! - Compose: nodes tinkerdb1..3, each `--node-id` its number, one shared `--initial-cluster` of
//!   service names, the healthcheck `tinkerdb health --ready`, a named volume on `/data`, RESP
//!   and admin published on the documented default host ports through the variables
//!   `scripts/test-docker.sh` sets.
//! - Both: the same container ports and data folder, and the same ones as both Dockerfiles'
//!   `CMD` and `EXPOSE`.
//!
//! No cluster is started: `scripts/test-docker.sh` runs the compose file for real.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// The container ports every deployment uses: RESP, peer, admin.
const RESP_PORT: u16 = 7379;
const PEER_PORT: u16 = 7380;
const ADMIN_PORT: u16 = 7381;
const NODES: usize = 3;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Vec<Yaml> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

fn str_of<'a>(yaml: &'a Yaml, what: &str) -> &'a str {
    yaml.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {yaml:?}"))
}

fn list<'a>(yaml: &'a Yaml, what: &str) -> &'a [Yaml] {
    yaml.as_vec()
        .unwrap_or_else(|| panic!("{what}: expected a list, found {yaml:?}"))
}

fn int(yaml: &Yaml, what: &str) -> i64 {
    yaml.as_i64()
        .unwrap_or_else(|| panic!("{what}: expected an integer, found {yaml:?}"))
}

/// The value of `--name=value` in a server's argument list (the style all our files use).
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    args.iter().find_map(|a| a.strip_prefix(prefix.as_str()))
}

fn strings(yaml: &Yaml, what: &str) -> Vec<String> {
    list(yaml, what)
        .iter()
        .map(|a| str_of(a, what).to_owned())
        .collect()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("`{addr}` is not host:port"))
}

/// Checks the flags every containerized server shares: what it listens on and where its data is.
fn assert_server_flags(args: &[String], what: &str) {
    assert_eq!(
        args.first().map(String::as_str),
        Some("server"),
        "{what}: {args:?}"
    );
    for (name, port) in [
        ("--listen", RESP_PORT),
        ("--peer-listen", PEER_PORT),
        ("--admin-listen", ADMIN_PORT),
    ] {
        let addr = flag(args, name).unwrap_or_else(|| panic!("{what}: no {name}"));
        assert_eq!(addr, format!("0.0.0.0:{port}"), "{what}: {name}");
    }
    assert_eq!(flag(args, "--data-dir"), Some("/data"), "{what}");
}

/// `1=host:port,2=...` as (id, host, port).
fn members(initial_cluster: &str) -> Vec<(usize, String, u16)> {
    initial_cluster
        .split(',')
        .map(|member| {
            let (id, addr) = member.split_once('=').expect("id=host:port");
            let (host, _) = addr.rsplit_once(':').expect("host:port");
            (
                id.parse().expect("a node id"),
                host.to_owned(),
                port_of(addr),
            )
        })
        .collect()
}

fn k8s_documents() -> Vec<Yaml> {
    let dir = repo().join("deploy/k8s");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no manifests in {}", dir.display());
    let mut docs = Vec::new();
    for path in paths {
        for doc in load(&path) {
            let what = path.display().to_string();
            str_of(&doc["apiVersion"], &what);
            str_of(&doc["kind"], &what);
            str_of(&doc["metadata"]["name"], &what);
            docs.push(doc);
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [Yaml], kind: &str) -> Vec<&'a Yaml> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

#[test]
fn kubernetes_manifests_describe_a_three_node_statefulset() {
    let docs = k8s_documents();
    let sets = of_kind(&docs, "StatefulSet");
    assert_eq!(sets.len(), 1, "one StatefulSet");
    let set = sets[0];
    let name = str_of(&set["metadata"]["name"], "StatefulSet name");
    let spec = &set["spec"];
    assert_eq!(int(&spec["replicas"], "replicas"), NODES as i64);
    assert_eq!(
        spec["podManagementPolicy"].as_str(),
        Some("Parallel"),
        "OrderedReady would wait for a ready pod 0, which needs a quorum first"
    );
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(
        &spec["selector"]["matchLabels"], labels,
        "selector = pod labels"
    );

    // The headless Service named by serviceName, publishing pods before they are ready.
    let services = of_kind(&docs, "Service");
    let headless_name = str_of(&spec["serviceName"], "serviceName");
    let headless = services
        .iter()
        .find(|s| s["metadata"]["name"].as_str() == Some(headless_name))
        .unwrap_or_else(|| panic!("no Service named {headless_name}"));
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(
        headless["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    let clients: Vec<_> = services
        .iter()
        .filter(|s| s["spec"]["clusterIP"].as_str() != Some("None"))
        .collect();
    assert_eq!(clients.len(), 1, "one client Service");

    let pod = &spec["template"]["spec"];
    let containers = list(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let ports: Vec<(String, u16)> = list(&container["ports"], "container ports")
        .iter()
        .map(|p| {
            let port = int(&p["containerPort"], "containerPort");
            (str_of(&p["name"], "port name").to_owned(), port as u16)
        })
        .collect();
    let expected_ports = [
        ("resp", RESP_PORT),
        ("peer", PEER_PORT),
        ("admin", ADMIN_PORT),
    ];
    assert_eq!(
        ports,
        expected_ports.map(|(n, p)| (n.to_owned(), p)).to_vec(),
        "container ports"
    );

    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert_eq!(
            get["port"].as_str(),
            Some("admin"),
            "{probe} on the admin port"
        );
    }

    let args = strings(&container["args"], "args");
    assert_server_flags(&args, "StatefulSet");
    assert!(
        args.iter().any(|a| a == "--node-id-from-hostname"),
        "{args:?}"
    );
    assert_eq!(
        flag(&args, "--node-id"),
        None,
        "one node id source: the pod name"
    );
    let initial = flag(&args, "--initial-cluster").expect("--initial-cluster");
    let expected: Vec<_> = (0..NODES)
        .map(|ordinal| {
            (
                ordinal + 1,
                format!("{name}-{ordinal}.{headless_name}"),
                PEER_PORT,
            )
        })
        .collect();
    assert_eq!(
        members(initial),
        expected,
        "--initial-cluster names the pods"
    );

    // Every Service port targets a named container port.
    for service in &services {
        for port in list(&service["spec"]["ports"], "service ports") {
            let target = str_of(&port["targetPort"], "targetPort");
            assert!(
                ports.iter().any(|(n, _)| n == target),
                "targetPort {target}"
            );
        }
    }

    // The data volume: one claim template, mounted on the --data-dir.
    let claims = list(&spec["volumeClaimTemplates"], "volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    let claim = str_of(&claims[0]["metadata"]["name"], "claim name");
    let mounts = list(&container["volumeMounts"], "volumeMounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["name"].as_str() == Some(claim) && m["mountPath"].as_str() == Some("/data")),
        "claim {claim} mounted on /data"
    );

    let budgets = of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(budgets.len(), 1, "one PodDisruptionBudget");
    assert_eq!(
        int(&budgets[0]["spec"]["maxUnavailable"], "maxUnavailable"),
        1
    );
    assert_eq!(&budgets[0]["spec"]["selector"]["matchLabels"], labels);
}

/// `"${BIND:-127.0.0.1}:${VAR:-7379}:7379"` as (VAR, 7379 (the default), 7379 (the container's)).
fn published(mapping: &str) -> (String, u16, u16) {
    let (host, container) = mapping.rsplit_once(':').expect("host:container");
    let (_, host_port) = host.rsplit_once(":${").expect("a host port variable");
    let (var, default) = host_port
        .trim_end_matches('}')
        .split_once(":-")
        .expect("${VAR:-default}");
    (
        var.to_owned(),
        default.parse().expect("a default port"),
        container.parse().expect("a container port"),
    )
}

#[test]
fn compose_file_describes_three_nodes_on_distinct_host_ports() {
    let docs = load(&repo().join("docker-compose.yml"));
    assert_eq!(docs.len(), 1);
    let compose = &docs[0];
    let services = compose["services"].as_hash().expect("services");
    assert_eq!(services.len(), NODES);
    let mut initial_clusters = BTreeSet::new();
    let mut host_ports = BTreeSet::new();
    for n in 1..=NODES {
        let name = format!("tinkerdb{n}");
        let service = &compose["services"][name.as_str()];
        assert!(!service.is_badvalue(), "no service {name}");
        assert_eq!(
            service["restart"].as_str(),
            Some("unless-stopped"),
            "{name}"
        );
        let image = str_of(&service["image"], &name);
        assert!(image.contains("tinkerdb:dev"), "{name}: {image}");

        let args = strings(&service["command"], &name);
        assert_server_flags(&args, &name);
        assert_eq!(
            flag(&args, "--node-id"),
            Some(n.to_string().as_str()),
            "{name}"
        );
        let initial = flag(&args, "--initial-cluster").expect("--initial-cluster");
        initial_clusters.insert(initial.to_owned());
        let expected: Vec<_> = (1..=NODES)
            .map(|id| (id, format!("tinkerdb{id}"), PEER_PORT))
            .collect();
        assert_eq!(members(initial), expected, "{name}: --initial-cluster");

        let mappings: Vec<_> = strings(&service["ports"], &name)
            .iter()
            .map(|m| published(m))
            .collect();
        let step = 10 * (n as u16 - 1);
        let expected = vec![
            (
                format!("TINKERDB{n}_RESP_PORT"),
                RESP_PORT + step,
                RESP_PORT,
            ),
            (
                format!("TINKERDB{n}_ADMIN_PORT"),
                ADMIN_PORT + step,
                ADMIN_PORT,
            ),
        ];
        assert_eq!(mappings, expected, "{name}: published ports");
        host_ports.extend(mappings.iter().map(|m| m.1));

        let test = strings(&service["healthcheck"]["test"], &name);
        let admin = format!("127.0.0.1:{ADMIN_PORT}");
        assert_eq!(
            test,
            [
                "CMD",
                "/tinkerdb",
                "health",
                "--ready",
                "--admin",
                admin.as_str()
            ],
            "{name}: healthcheck"
        );

        let volumes = strings(&service["volumes"], &name);
        let volume = format!("{name}-data");
        assert_eq!(volumes, [format!("{volume}:/data")], "{name}: volumes");
        assert!(
            compose["volumes"]
                .as_hash()
                .is_some_and(|v| v.contains_key(&Yaml::String(volume))),
            "{name}: its volume is declared"
        );
    }
    assert_eq!(initial_clusters.len(), 1, "one --initial-cluster for all");
    assert_eq!(host_ports.len(), 2 * NODES, "distinct host ports");
}

#[test]
fn both_dockerfiles_end_in_the_same_image() {
    let final_stage = |path: &str| -> Vec<String> {
        let text = fs::read_to_string(repo().join(path)).expect("read a Dockerfile");
        let from_scratch = text.rfind("\nFROM scratch").expect("a FROM scratch stage");
        text[from_scratch..]
            .lines()
            .map(str::trim)
            .filter(|l| {
                [
                    "EXPOSE",
                    "VOLUME",
                    "USER",
                    "ENTRYPOINT",
                    "CMD",
                    "HEALTHCHECK",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            })
            .map(str::to_owned)
            .collect()
    };
    let release = final_stage("Dockerfile");
    let prebuilt = final_stage("docker/Dockerfile.prebuilt");
    assert_eq!(release, prebuilt);
    let expose = format!("EXPOSE {RESP_PORT} {PEER_PORT} {ADMIN_PORT}");
    assert!(release.contains(&expose), "{release:?}");
    let cmd = release
        .iter()
        .find(|l| l.starts_with("CMD [\"server\""))
        .expect("a CMD running the server");
    let listen = format!("\"--listen\", \"0.0.0.0:{RESP_PORT}\"");
    assert!(cmd.contains(&listen) && cmd.contains("\"/data\""), "{cmd}");
}
