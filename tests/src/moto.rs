//! A moto server on loopback: the real AWS protocols (KMS, Auto Scaling, ...) without an AWS account.
//! Uses `MOTO_ENDPOINT` when a server is already running (the test script starts one), otherwise starts
//! `scripts/moto_server.py` (moto with DynamoDB's atomic conditional writes) with the project's `.venv`
//! Python, or a Python on the PATH that has moto, once per test process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::Credentials;

pub struct Moto {
    pub endpoint: String,
}

/// The Python that has moto: the project's `.venv`, else the one next to a `moto_server` on the PATH.
fn find_moto_python() -> Option<PathBuf> {
    let venv = crate::workspace_root().join(".venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|p| p.join("moto_server").exists()).map(|p| p.join("python3"))
    })
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
            let Some(python) = find_moto_python() else {
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
                let mut cmd = Command::new(python);
                cmd.arg(crate::workspace_root().join("scripts/moto_server.py"))
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
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

    /// SDK configuration pointed at this server, with dummy credentials, served by the functions' own
    /// HTTP client. (`aws-config` with the SDK's default client brought aws-lc, a C build, into every test
    /// build, and a second feature set of the whole dependency graph: minutes of CI.)
    pub async fn sdk_config(&self) -> aws_types::SdkConfig {
        let http = chatops_shared::http::http_client().expect("an HTTP client");
        aws_types::SdkConfig::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_types::region::Region::new("eu-west-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .http_client(chatops_shared::aws::http::sdk_http_client(http))
            .build()
    }

    /// Environment for a function process: the SDK's standard settings, pointed at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "eu-west-1".into()),
            // moto has no GetMetricWidgetImage: graphs are tested against the CloudWatch stand-in
            // (tests/tests/alarm_graphs_binary.rs), which sets this back to true.
            ("METRIC_GRAPHS", "false".into()),
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

impl Moto {
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
    }

    /// Creates a Secrets Manager secret under a fresh name holding `value`; returns its ARN.
    pub async fn create_secret(&self, value: &str) -> String {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out = self
            .secrets()
            .await
            .create_secret()
            .name(format!("chatops/test-{}-{n}", std::process::id()))
            .secret_string(value)
            .send()
            .await
            .expect("CreateSecret");
        out.arn().expect("ARN").to_owned()
    }

    /// Stores a new value of secret `arn` (what a rotation does).
    pub async fn put_secret(&self, arn: &str, value: &str) {
        self.secrets()
            .await
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value)
            .send()
            .await
            .expect("PutSecretValue");
    }

    /// Creates a state table as template.yaml does (`pk` / `sk`, on demand, TTL on `expires_at`, the sparse
    /// `open` index on `open_in` / `open_sk` projecting everything) under a fresh name, and returns the name.
    /// (scripts/check-template.py checks that the template's index is this one.)
    pub async fn create_state_table(&self) -> String {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
            ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
        };
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("chatops-state-{}-{n}", std::process::id());
        let ddb = self.dynamodb().await;
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        let key =
            |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("key");
        ddb.create_table()
            .table_name(&name)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attr(chatops_shared::state::OPEN_PARTITION))
            .attribute_definitions(attr(chatops_shared::state::OPEN_SORT))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(chatops_shared::state::OPEN_INDEX)
                    .key_schema(key(chatops_shared::state::OPEN_PARTITION, KeyType::Hash))
                    .key_schema(key(chatops_shared::state::OPEN_SORT, KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("index"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("CreateTable");
        ddb.update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name("expires_at").build().expect("ttl"),
            )
            .send()
            .await
            .expect("UpdateTimeToLive");
        name
    }

    /// Every item of a table, as JSON-ish maps of attribute name to its string or number text.
    pub async fn items(&self, table: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        let out = self.dynamodb().await.scan().table_name(table).send().await.expect("Scan");
        out.items()
            .iter()
            .map(|item| {
                item.iter()
                    .map(|(k, v)| {
                        let text = v.as_s().or_else(|_| v.as_n()).cloned().unwrap_or_else(|_| format!("{v:?}"));
                        (k.clone(), text)
                    })
                    .collect()
            })
            .collect()
    }

    /// Sets `expires_at` of every item whose `pk` starts with `prefix` to the past, as if its TTL had run
    /// out (DynamoDB deletes expired items only within days, so readers must treat them as gone).
    pub async fn expire(&self, table: &str, prefix: &str) -> usize {
        self.set_past(table, prefix, "expires_at").await
    }

    /// Sets number attribute `attribute` of every item whose `pk` starts with `prefix` to the past
    /// (an approval request's `open_until`, as if its time had run out).
    pub async fn set_past(&self, table: &str, prefix: &str, attribute: &str) -> usize {
        use aws_sdk_dynamodb::types::AttributeValue;
        let ddb = self.dynamodb().await;
        let mut n = 0;
        for item in self.items(table).await.into_iter().filter(|i| i["pk"].starts_with(prefix)) {
            ddb.update_item()
                .table_name(table)
                .key("pk", AttributeValue::S(item["pk"].clone()))
                .key("sk", AttributeValue::S(item["sk"].clone()))
                .update_expression("SET #a = :past")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":past", AttributeValue::N("1000".into()))
                .send()
                .await
                .expect("UpdateItem");
            n += 1;
        }
        n
    }

    pub async fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.sdk_config().await)
    }

    /// Creates an EventBridge Scheduler schedule group (unique per call) and returns its name.
    pub async fn create_schedule_group(&self) -> String {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name =
            format!("chatops-test-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.scheduler().await.create_schedule_group().name(&name).send().await.expect("CreateScheduleGroup");
        name
    }

    /// The schedules of `group`: name, expression (`at(...)`), and the target's input, parsed.
    pub async fn schedules(&self, group: &str) -> Vec<(String, String, serde_json::Value)> {
        let client = self.scheduler().await;
        let listed = client.list_schedules().group_name(group).send().await.expect("ListSchedules");
        let mut out = Vec::new();
        for summary in listed.schedules() {
            let name = summary.name().unwrap_or_default().to_owned();
            let got = client.get_schedule().group_name(group).name(&name).send().await.expect("GetSchedule");
            let input = got.target().and_then(|t| t.input()).unwrap_or("null");
            out.push((
                name,
                got.schedule_expression().unwrap_or_default().to_owned(),
                serde_json::from_str(input).unwrap_or_default(),
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Makes the moto account an organisation's management account (once; later calls find it made) and
    /// creates member account `name` in it. Returns the new account's ID.
    pub async fn create_org_account(&self, name: &str) -> String {
        let client = aws_sdk_organizations::Client::new(&self.sdk_config().await);
        if let Err(err) = client.create_organization().send().await {
            use aws_sdk_organizations::error::ProvideErrorMetadata as _;
            assert_eq!(err.code(), Some("AlreadyInOrganizationException"), "CreateOrganization: {err:?}");
        }
        let out = client
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .expect("CreateAccount");
        out.create_account_status.and_then(|s| s.account_id).expect("the new account's ID")
    }

    /// Takes account `id` out of the organisation: Organizations no longer knows it.
    pub async fn remove_org_account(&self, id: &str) {
        let client = aws_sdk_organizations::Client::new(&self.sdk_config().await);
        client.remove_account_from_organization().account_id(id).send().await.expect("RemoveAccountFromOrganization");
    }

    /// Creates log group `name` with one stream holding `events` (epoch ms, message), oldest first.
    pub async fn create_log_group(&self, name: &str, events: &[(i64, String)]) {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.sdk_config().await);
        logs.create_log_group().log_group_name(name).send().await.expect("CreateLogGroup");
        logs.create_log_stream().log_group_name(name).log_stream_name("app").send().await.expect("CreateLogStream");
        let mut put = logs.put_log_events().log_group_name(name).log_stream_name("app");
        for (at, message) in events {
            put = put.log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(*at)
                    .message(message)
                    .build()
                    .expect("an event"),
            );
        }
        put.send().await.expect("PutLogEvents");
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }

    /// Creates (or replaces) metric alarm `name`, its actions enabled.
    pub async fn put_alarm(&self, name: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
        self.cloudwatch()
            .await
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(5.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .actions_enabled(true)
            .alarm_actions("arn:aws:sns:eu-west-1:123456789012:pager")
            .send()
            .await
            .expect("PutMetricAlarm");
    }

    /// Whether alarm `name`'s actions are enabled, as CloudWatch reads it back.
    pub async fn alarm_actions_enabled(&self, name: &str) -> bool {
        let out = self.cloudwatch().await.describe_alarms().alarm_names(name).send().await.expect("DescribeAlarms");
        out.metric_alarms().first().and_then(|a| a.actions_enabled()).expect("the alarm")
    }

    /// Sets alarm `name`'s state (CloudWatch's SetAlarmState).
    pub async fn set_alarm_state(&self, name: &str, state: &str) {
        self.cloudwatch()
            .await
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state.into())
            .state_reason("test")
            .send()
            .await
            .expect("SetAlarmState");
    }
}
