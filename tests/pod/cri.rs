//! The CRI calls tests/pod.rs makes, as kubelet makes them, over containerd's unix socket.
//! The messages are the CRI v1 API's (k8s.io/cri-api `api.proto`, field numbers as there),
//! only the fields this test sets or reads; prost skips the others on decode.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    #[prost(string, tag = "1")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    #[prost(string, tag = "3")]
    pub runtime_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    pub config: Option<PodSandboxConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxConfig {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<PodSandboxMetadata>,
    #[prost(string, tag = "3")]
    pub log_directory: String,
    #[prost(message, optional, tag = "8")]
    pub linux: Option<LinuxPodSandboxConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxMetadata {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(uint32, tag = "4")]
    pub attempt: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxPodSandboxConfig {
    #[prost(string, tag = "1")]
    pub cgroup_parent: String,
    #[prost(message, optional, tag = "2")]
    pub security_context: Option<LinuxSandboxSecurityContext>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxSandboxSecurityContext {
    #[prost(message, optional, tag = "1")]
    pub namespace_options: Option<NamespaceOption>,
}

/// `network`, `pid`, `ipc`: 0 POD, 1 CONTAINER, 2 NODE (the host's).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceOption {
    #[prost(int32, tag = "1")]
    pub network: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPodSandboxResponse {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStatusRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
    #[prost(bool, tag = "2")]
    pub verbose: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<PodSandboxStatus>,
    /// With `verbose`: containerd's own account, under "info" (JSON).
    #[prost(map = "string, string", tag = "2")]
    pub info: HashMap<String, String>,
}

/// `state`: 0 SANDBOX_READY, 1 SANDBOX_NOTREADY.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStatus {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int32, tag = "3")]
    pub state: i32,
}

/// StopPodSandbox's and RemovePodSandbox's request; both answer with an empty message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SandboxId {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusRequest {
    #[prost(message, optional, tag = "1")]
    pub image: Option<ImageSpec>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageSpec {
    #[prost(string, tag = "1")]
    pub image: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, repeated, tag = "2")]
    pub repo_tags: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    pub repo_digests: Vec<String>,
}

pub const SANDBOX_READY: i32 = 0;
const NAMESPACE_NODE: i32 = 2;

/// A CRI client on one containerd socket; each call waits at most `timeout`.
pub struct Cri {
    runtime: tokio::runtime::Runtime,
    grpc: Grpc<Channel>,
    timeout: Duration,
}

impl Cri {
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Cri, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let socket = socket.to_path_buf();
        // The URI is a placeholder: the connector dials the unix socket.
        let endpoint = Endpoint::from_static("http://[::1]:1").connect_timeout(timeout);
        let channel = runtime
            .block_on(endpoint.connect_with_connector(tower::service_fn(move |_| {
                let socket = socket.clone();
                async move {
                    tokio::net::UnixStream::connect(socket)
                        .await
                        .map(TokioIo::new)
                }
            })))
            .map_err(|e| format!("{e:?}"))?;
        Ok(Cri {
            runtime,
            grpc: Grpc::new(channel),
            timeout,
        })
    }

    fn call<Req, Resp>(&mut self, method: &'static str, req: Req) -> Result<Resp, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut request = tonic::Request::new(req);
        request.set_timeout(self.timeout);
        let grpc = &mut self.grpc;
        self.runtime.block_on(async {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
            let path = PathAndQuery::from_static(method);
            grpc.unary(request, path, codec)
                .await
                .map(|r| r.into_inner())
        })
    }

    pub fn version(&mut self) -> Result<VersionResponse, tonic::Status> {
        let req = VersionRequest {
            version: "v1".into(),
        };
        self.call("/runtime.v1.RuntimeService/Version", req)
    }

    /// A host-network pod, as kubelet asks for one (no hostname: the host's), in its own
    /// cgroup parent; the sandbox's id.
    pub fn run_pod_sandbox(
        &mut self,
        name: &str,
        cgroup_parent: &str,
        logs: &Path,
    ) -> Result<String, tonic::Status> {
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: format!("{name}-uid"),
                namespace: "default".into(),
                attempt: 0,
            }),
            log_directory: logs.display().to_string(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: cgroup_parent.into(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NAMESPACE_NODE,
                    }),
                }),
            }),
        };
        let req = RunPodSandboxRequest {
            config: Some(config),
        };
        let resp: RunPodSandboxResponse =
            self.call("/runtime.v1.RuntimeService/RunPodSandbox", req)?;
        Ok(resp.pod_sandbox_id)
    }

    pub fn sandbox_status(&mut self, id: &str) -> Result<PodSandboxStatusResponse, tonic::Status> {
        let req = PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: true,
        };
        self.call("/runtime.v1.RuntimeService/PodSandboxStatus", req)
    }

    pub fn stop_and_remove(&mut self, id: &str) -> Result<(), tonic::Status> {
        for method in [
            "/runtime.v1.RuntimeService/StopPodSandbox",
            "/runtime.v1.RuntimeService/RemovePodSandbox",
        ] {
            let req = SandboxId {
                pod_sandbox_id: id.into(),
            };
            let _: Empty = self.call(method, req)?;
        }
        Ok(())
    }

    /// The image containerd has under `reference`, if any.
    pub fn image_status(&mut self, reference: &str) -> Result<Option<Image>, tonic::Status> {
        let req = ImageStatusRequest {
            image: Some(ImageSpec {
                image: reference.into(),
            }),
        };
        let resp: ImageStatusResponse = self.call("/runtime.v1.ImageService/ImageStatus", req)?;
        Ok(resp.image)
    }
}
