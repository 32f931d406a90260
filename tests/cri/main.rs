//! capkit-test-cri: a Kubernetes CRI client (the kubelet's side of the runtime.v1 gRPC API) for
//! tests/capsim_cri.rs, which proves `capsim --k8s` against containerd's real CRI plugin. It lives in a
//! test binary so that the integration test crate does not link tokio and tonic.
//!
//!   capkit-test-cri SOCKET run        reads one case (JSON) on stdin: runs a pod sandbox, creates and
//!                                     starts one container in it, waits for it to exit, reads its CRI log,
//!                                     removes both, and prints the outcome (JSON) on stdout
//!   capkit-test-cri SOCKET cleanup ID stops and removes every sandbox labelled capkit.test/run=ID (and so
//!                                     its containers)
//!
//! The messages are the few runtime.v1 ones the test needs, written out with prost's derive from
//! k8s.io/cri-api's api.proto (field numbers as there): the k8s-cri crate generates them in a build script
//! that needs protoc, which capkit's CI does not install.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Clone, PartialEq, prost::Message)]
struct PodSandboxMetadata {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    uid: String,
    #[prost(string, tag = "3")]
    namespace: String,
    #[prost(uint32, tag = "4")]
    attempt: u32,
}

/// NamespaceMode: POD 0, CONTAINER 1, NODE 2, TARGET 3.
const NODE: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
struct NamespaceOption {
    #[prost(int32, tag = "1")]
    network: i32,
    #[prost(int32, tag = "2")]
    pid: i32,
    #[prost(int32, tag = "3")]
    ipc: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Int64Value {
    #[prost(int64, tag = "1")]
    value: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LinuxSandboxSecurityContext {
    #[prost(message, optional, tag = "1")]
    namespace_options: Option<NamespaceOption>,
    #[prost(message, optional, tag = "3")]
    run_as_user: Option<Int64Value>,
    #[prost(int64, repeated, tag = "5")]
    supplemental_groups: Vec<i64>,
    #[prost(bool, tag = "6")]
    privileged: bool,
    #[prost(message, optional, tag = "8")]
    run_as_group: Option<Int64Value>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LinuxPodSandboxConfig {
    #[prost(string, tag = "1")]
    cgroup_parent: String,
    #[prost(message, optional, tag = "2")]
    security_context: Option<LinuxSandboxSecurityContext>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PodSandboxConfig {
    #[prost(message, optional, tag = "1")]
    metadata: Option<PodSandboxMetadata>,
    #[prost(string, tag = "2")]
    hostname: String,
    #[prost(string, tag = "3")]
    log_directory: String,
    #[prost(map = "string, string", tag = "6")]
    labels: HashMap<String, String>,
    #[prost(message, optional, tag = "8")]
    linux: Option<LinuxPodSandboxConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RunPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    config: Option<PodSandboxConfig>,
    #[prost(string, tag = "2")]
    runtime_handler: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RunPodSandboxResponse {
    #[prost(string, tag = "1")]
    pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ContainerMetadata {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(uint32, tag = "2")]
    attempt: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ImageSpec {
    #[prost(string, tag = "1")]
    image: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Capability {
    #[prost(string, repeated, tag = "1")]
    add_capabilities: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    drop_capabilities: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LinuxContainerSecurityContext {
    #[prost(message, optional, tag = "1")]
    capabilities: Option<Capability>,
    #[prost(bool, tag = "2")]
    privileged: bool,
    #[prost(message, optional, tag = "3")]
    namespace_options: Option<NamespaceOption>,
    #[prost(message, optional, tag = "5")]
    run_as_user: Option<Int64Value>,
    #[prost(string, tag = "6")]
    run_as_username: String,
    #[prost(int64, repeated, tag = "8")]
    supplemental_groups: Vec<i64>,
    #[prost(bool, tag = "11")]
    no_new_privs: bool,
    #[prost(message, optional, tag = "12")]
    run_as_group: Option<Int64Value>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LinuxContainerConfig {
    #[prost(message, optional, tag = "2")]
    security_context: Option<LinuxContainerSecurityContext>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ContainerConfig {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ContainerMetadata>,
    #[prost(message, optional, tag = "2")]
    image: Option<ImageSpec>,
    #[prost(string, repeated, tag = "3")]
    command: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    args: Vec<String>,
    #[prost(string, tag = "11")]
    log_path: String,
    #[prost(message, optional, tag = "15")]
    linux: Option<LinuxContainerConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CreateContainerRequest {
    #[prost(string, tag = "1")]
    pod_sandbox_id: String,
    #[prost(message, optional, tag = "2")]
    config: Option<ContainerConfig>,
    #[prost(message, optional, tag = "3")]
    sandbox_config: Option<PodSandboxConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CreateContainerResponse {
    #[prost(string, tag = "1")]
    container_id: String,
}

/// StartContainerRequest, ContainerStatusRequest (verbose false), RemoveContainerRequest: one id.
#[derive(Clone, PartialEq, prost::Message)]
struct ContainerId {
    #[prost(string, tag = "1")]
    container_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StopContainerRequest {
    #[prost(string, tag = "1")]
    container_id: String,
    #[prost(int64, tag = "2")]
    timeout: i64,
}

/// StopPodSandboxRequest and RemovePodSandboxRequest.
#[derive(Clone, PartialEq, prost::Message)]
struct SandboxId {
    #[prost(string, tag = "1")]
    pod_sandbox_id: String,
}

/// ContainerState: CREATED 0, RUNNING 1, EXITED 2, UNKNOWN 3.
const EXITED: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
struct ContainerStatus {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(int32, tag = "3")]
    state: i32,
    #[prost(int32, tag = "7")]
    exit_code: i32,
    #[prost(string, tag = "10")]
    reason: String,
    #[prost(string, tag = "11")]
    message: String,
    #[prost(string, tag = "15")]
    log_path: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ContainerStatusResponse {
    #[prost(message, optional, tag = "1")]
    status: Option<ContainerStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PodSandboxFilter {
    #[prost(map = "string, string", tag = "3")]
    label_selector: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    filter: Option<PodSandboxFilter>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PodSandbox {
    #[prost(string, tag = "1")]
    id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListPodSandboxResponse {
    #[prost(message, repeated, tag = "1")]
    items: Vec<PodSandbox>,
}

/// The responses that carry nothing the test reads.
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// The label every sandbox of one test run carries, for `cleanup`.
const RUN_LABEL: &str = "capkit.test/run";
/// How long the container may take to exit, in polls of POLL.
const POLLS: u32 = 400;
const POLL: Duration = Duration::from_millis(25);
/// Each call's bound: a runtime that hangs fails the case instead of the test run.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

struct Cri {
    channel: Channel,
}

impl Cri {
    async fn connect(socket: &Path) -> Result<Cri, String> {
        let path = socket.to_path_buf();
        // The URI is not used: every connection is the unix socket.
        let channel = Endpoint::from_static("http://localhost")
            .timeout(CALL_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| format!("{}: {e}", socket.display()))?;
        Ok(Cri { channel })
    }

    async fn call<Q, R>(&self, method: &'static str, request: Q) -> Result<R, String>
    where
        Q: prost::Message + Send + Sync + 'static,
        R: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|e| format!("{method}: {e}"))?;
        let path = PathAndQuery::from_static(method);
        let codec = tonic_prost::ProstCodec::<Q, R>::default();
        grpc.unary(tonic::Request::new(request), path, codec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| status.message().to_string())
    }
}

fn ids(value: &Value) -> Option<Int64Value> {
    value.as_i64().map(|value| Int64Value { value })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The sandbox of a case: the host's network (no CNI), privileged when the container is, as the kubelet
/// asks for it.
fn sandbox_config(case: &Value, log_dir: &str) -> PodSandboxConfig {
    let name = case["name"].as_str().unwrap_or("case").to_string();
    let run = case["run_id"].as_str().unwrap_or("").to_string();
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.clone(),
            uid: format!("{run}-{name}"),
            namespace: "capkit-test".to_string(),
            attempt: 0,
        }),
        hostname: String::new(),
        log_directory: log_dir.to_string(),
        labels: HashMap::from([(RUN_LABEL.to_string(), run)]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: String::new(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NODE,
                    ..NamespaceOption::default()
                }),
                run_as_user: None,
                supplemental_groups: Vec::new(),
                privileged: case["sandbox_privileged"].as_bool().unwrap_or(false),
                run_as_group: None,
            }),
        }),
    }
}

fn container_config(case: &Value) -> ContainerConfig {
    let sc = &case["security"];
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "cat".to_string(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: case["image"].as_str().unwrap_or("").to_string(),
        }),
        command: strings(&case["command"]),
        args: Vec::new(),
        log_path: "cat.log".to_string(),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                capabilities: Some(Capability {
                    add_capabilities: strings(&sc["add"]),
                    drop_capabilities: strings(&sc["drop"]),
                }),
                privileged: sc["privileged"].as_bool().unwrap_or(false),
                namespace_options: Some(NamespaceOption {
                    network: NODE,
                    ..NamespaceOption::default()
                }),
                run_as_user: ids(&sc["run_as_user"]),
                run_as_username: sc["run_as_username"].as_str().unwrap_or("").to_string(),
                supplemental_groups: sc["supplemental_groups"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default(),
                no_new_privs: sc["no_new_privs"].as_bool().unwrap_or(false),
                run_as_group: ids(&sc["run_as_group"]),
            }),
        }),
    }
}

/// The text of a CRI log: each line is `TIME STREAM TAG TEXT` (the tag P for a partial line).
fn log_text(raw: &str) -> String {
    let mut out = String::new();
    for line in raw.lines() {
        let mut fields = line.splitn(4, ' ');
        let (_, _, tag, text) = (fields.next(), fields.next(), fields.next(), fields.next());
        out.push_str(text.unwrap_or(""));
        if tag != Some("P") {
            out.push('\n');
        }
    }
    out
}

/// Runs one case: the outcome is `create failed`, `start failed` (with the runtime's message) or
/// `exited` (with the exit code, the status reason and message, and the log's text).
async fn run_case(cri: &Cri, case: &Value) -> Value {
    let log_dir = case["log_dir"]
        .as_str()
        .unwrap_or("/nonexistent")
        .to_string();
    let config = sandbox_config(case, &log_dir);
    let sandbox: Result<RunPodSandboxResponse, String> = cri
        .call(
            "/runtime.v1.RuntimeService/RunPodSandbox",
            RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            },
        )
        .await;
    let sandbox = match sandbox {
        Ok(r) => r.pod_sandbox_id,
        Err(e) => return json!({"outcome": "sandbox failed", "message": e}),
    };
    let result = run_container(cri, &sandbox, config, case, &log_dir).await;
    let mut cleanup = Vec::new();
    let stopped: Result<Empty, String> = cri
        .call(
            "/runtime.v1.RuntimeService/StopPodSandbox",
            SandboxId {
                pod_sandbox_id: sandbox.clone(),
            },
        )
        .await;
    cleanup.extend(stopped.err());
    let removed: Result<Empty, String> = cri
        .call(
            "/runtime.v1.RuntimeService/RemovePodSandbox",
            SandboxId {
                pod_sandbox_id: sandbox,
            },
        )
        .await;
    cleanup.extend(removed.err());
    let mut result = result;
    if !cleanup.is_empty() {
        result["cleanup_errors"] = json!(cleanup);
    }
    result
}

async fn run_container(
    cri: &Cri,
    sandbox: &str,
    sandbox_config: PodSandboxConfig,
    case: &Value,
    log_dir: &str,
) -> Value {
    let created: Result<CreateContainerResponse, String> = cri
        .call(
            "/runtime.v1.RuntimeService/CreateContainer",
            CreateContainerRequest {
                pod_sandbox_id: sandbox.to_string(),
                config: Some(container_config(case)),
                sandbox_config: Some(sandbox_config),
            },
        )
        .await;
    let id = match created {
        Ok(r) => r.container_id,
        Err(e) => return json!({"outcome": "create failed", "message": e}),
    };
    let result = start_and_wait(cri, &id, log_dir).await;
    // RemovePodSandbox removes the container too; removing it here first says so if it cannot be.
    let _: Result<Empty, String> = cri
        .call(
            "/runtime.v1.RuntimeService/StopContainer",
            StopContainerRequest {
                container_id: id.clone(),
                timeout: 0,
            },
        )
        .await;
    let _: Result<Empty, String> = cri
        .call(
            "/runtime.v1.RuntimeService/RemoveContainer",
            ContainerId { container_id: id },
        )
        .await;
    result
}

async fn start_and_wait(cri: &Cri, id: &str, log_dir: &str) -> Value {
    let started: Result<Empty, String> = cri
        .call(
            "/runtime.v1.RuntimeService/StartContainer",
            ContainerId {
                container_id: id.to_string(),
            },
        )
        .await;
    if let Err(e) = started {
        return json!({"outcome": "start failed", "message": e});
    }
    let mut last = None;
    for _ in 0..POLLS {
        let status: Result<ContainerStatusResponse, String> = cri
            .call(
                "/runtime.v1.RuntimeService/ContainerStatus",
                ContainerId {
                    container_id: id.to_string(),
                },
            )
            .await;
        match status.map(|r| r.status) {
            Ok(Some(s)) if s.state == EXITED => {
                last = Some(s);
                break;
            }
            Ok(_) => tokio::time::sleep(POLL).await,
            Err(e) => return json!({"outcome": "status failed", "message": e}),
        }
    }
    let Some(status) = last else {
        return json!({"outcome": "did not exit", "message": format!("not exited after {POLLS} polls")});
    };
    let log = read_log(&PathBuf::from(log_dir).join("cat.log")).await;
    json!({
        "outcome": "exited",
        "exit_code": status.exit_code,
        "reason": status.reason,
        "message": status.message,
        "log": log,
    })
}

/// The container's log once it holds the whole status file (its last line is Seccomp_filters or later),
/// or what it holds after a bounded number of reads: containerd may still be copying the output.
async fn read_log(path: &Path) -> String {
    let mut text = String::new();
    for _ in 0..40 {
        text = log_text(&std::fs::read_to_string(path).unwrap_or_default());
        if text.contains("voluntary_ctxt_switches") {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    text
}

async fn cleanup(cri: &Cri, run: &str) -> Result<usize, String> {
    let listed: ListPodSandboxResponse = cri
        .call(
            "/runtime.v1.RuntimeService/ListPodSandbox",
            ListPodSandboxRequest {
                filter: Some(PodSandboxFilter {
                    label_selector: HashMap::from([(RUN_LABEL.to_string(), run.to_string())]),
                }),
            },
        )
        .await?;
    for sandbox in &listed.items {
        let _: Result<Empty, String> = cri
            .call(
                "/runtime.v1.RuntimeService/StopPodSandbox",
                SandboxId {
                    pod_sandbox_id: sandbox.id.clone(),
                },
            )
            .await;
        let _: Empty = cri
            .call(
                "/runtime.v1.RuntimeService/RemovePodSandbox",
                SandboxId {
                    pod_sandbox_id: sandbox.id.clone(),
                },
            )
            .await?;
    }
    Ok(listed.items.len())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("capkit-test-cri: tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let (Some(socket), Some(action)) = (args.get(1), args.get(2)) else {
            return Err("usage: capkit-test-cri SOCKET run|cleanup [RUN_ID]".to_string());
        };
        let cri = Cri::connect(Path::new(socket)).await?;
        match action.as_str() {
            "run" => {
                let mut input = String::new();
                std::io::stdin()
                    .read_to_string(&mut input)
                    .map_err(|e| format!("stdin: {e}"))?;
                let case: Value =
                    serde_json::from_str(&input).map_err(|e| format!("the case: {e}"))?;
                println!("{}", run_case(&cri, &case).await);
                Ok(())
            }
            "cleanup" => {
                let run = args.get(3).ok_or("cleanup needs the run id")?;
                let removed = cleanup(&cri, run).await?;
                println!("{removed}");
                Ok(())
            }
            other => Err(format!("unknown action {other}")),
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capkit-test-cri: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
