//! A moto server on loopback: the real AWS protocols (KMS, Auto Scaling, ...) without an AWS account.
//! Uses `MOTO_ENDPOINT` when a server is already running (the test script starts one), otherwise starts
//! `moto_server` from the project's `.venv` or the PATH, once per test process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::Credentials;

pub struct Moto {
    pub endpoint: String,
}

fn find_moto_server() -> Option<PathBuf> {
    let venv = crate::workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("moto_server")).find(|p| p.exists()))
}

fn wait_until_up(endpoint: &str) -> bool {
    let addr = endpoint.trim_start_matches("http://");
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Moto {
    /// The moto server of this process.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| {
            if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
                assert!(wait_until_up(&endpoint), "MOTO_ENDPOINT={endpoint} does not answer");
                return Moto { endpoint };
            }
            let Some(bin) = find_moto_server() else {
                panic!(
                    "moto_server not found: these tests need a moto server on loopback. Run the README's test command \
                     (scripts/test installs moto into .venv), or `pip install 'moto[server]'`, or set MOTO_ENDPOINT."
                );
            };
            let port =
                TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
            let (tx, rx) = std::sync::mpsc::channel();
            // The server is started from a thread that never ends, with PDEATHSIG, so it dies with this
            // process (the signal fires when the spawning thread exits).
            std::thread::spawn(move || {
                let mut cmd = Command::new(bin);
                cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
                #[cfg(target_os = "linux")]
                unsafe {
                    use std::os::unix::process::CommandExt;
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let child = cmd.spawn();
                let ok = child.is_ok();
                let _ = tx.send(child.map(|_| ()).map_err(|e| e.to_string()));
                if ok {
                    loop {
                        std::thread::park();
                    }
                }
            });
            rx.recv().expect("moto thread").expect("starting moto_server");
            let endpoint = format!("http://127.0.0.1:{port}");
            assert!(wait_until_up(&endpoint), "moto_server did not start on {endpoint}");
            Moto { endpoint }
        })
    }

    /// SDK configuration pointed at this server, with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// Environment for a function process: the SDK's standard settings, pointed at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "eu-west-1".into()),
        ]
    }

    pub async fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk_config().await)
    }

    /// Creates a symmetric key and returns its id.
    pub async fn create_key(&self) -> String {
        let out = self.kms().await.create_key().description("chatops test key").send().await.expect("CreateKey");
        out.key_metadata.map(|m| m.key_id).expect("key id")
    }

    /// Encrypts `plaintext` under `key_id`, with `LambdaFunctionName=<function>` as context when given,
    /// and returns base64 ciphertext (what the env variable holds).
    pub async fn encrypt(&self, key_id: &str, plaintext: &str, function: Option<&str>) -> String {
        use base64::Engine as _;
        let mut req =
            self.kms().await.encrypt().key_id(key_id).plaintext(aws_sdk_kms::primitives::Blob::new(plaintext));
        if let Some(f) = function {
            req = req.encryption_context("LambdaFunctionName", f);
        }
        let out = req.send().await.expect("Encrypt");
        base64::engine::general_purpose::STANDARD.encode(out.ciphertext_blob.expect("ciphertext").into_inner())
    }
}

impl Moto {
    pub async fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk_config().await)
    }

    /// Creates an Auto Scaling group (and a launch configuration for it), tagged `chatops:scale=<tag>`
    /// when `tag` is given.
    pub async fn create_group(&self, name: &str, min: i32, max: i32, desired: i32, tag: Option<&str>) {
        use aws_sdk_autoscaling::types::Tag;
        let asg = self.autoscaling().await;
        let lc = format!("{name}-lc");
        asg.create_launch_configuration()
            .launch_configuration_name(&lc)
            .image_id("ami-12c6146b")
            .instance_type("t3.micro")
            .send()
            .await
            .expect("CreateLaunchConfiguration");
        let mut req = asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name(&lc)
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .availability_zones("eu-west-1a");
        if let Some(value) = tag {
            req = req.tags(
                Tag::builder()
                    .key("chatops:scale")
                    .value(value)
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .propagate_at_launch(false)
                    .build(),
            );
        }
        req.send().await.expect("CreateAutoScalingGroup");
    }

    pub async fn desired_capacity(&self, name: &str) -> i32 {
        let out = self
            .autoscaling()
            .await
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .expect("DescribeAutoScalingGroups");
        out.auto_scaling_groups().first().and_then(|g| g.desired_capacity).expect("group exists")
    }
}
