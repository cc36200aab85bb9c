//! The log subscriber of both functions, following Lambda's advanced logging controls.
//!
//! Same output as `lambda_runtime`'s default subscriber (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, no
//! timestamp or target: CloudWatch adds the time), but filtered by `tracing_subscriber`'s `Targets`
//! instead of `EnvFilter`. `EnvFilter` brings a regex engine for span and field filters that no one
//! sets on a Lambda function: about 0.2 MiB of each binary (docs/performance.md).
//!
//! Base floor: imports nothing from this crate.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

use crate::config::non_empty;

/// The filter, from `AWS_LAMBDA_LOG_LEVEL` (one level, set by the logging controls; `FATAL` counts as
/// `ERROR`), else `RUST_LOG` as `level,target=level,...` directives, else `INFO`. A value that does not
/// parse gives `INFO` and the problem, to be logged once the subscriber is up.
pub fn filter(lookup: &dyn Fn(&str) -> Option<String>) -> (Targets, Option<String>) {
    let info = Targets::new().with_default(LevelFilter::INFO);
    if let Some(level) = non_empty(lookup, "AWS_LAMBDA_LOG_LEVEL") {
        let level = if level.eq_ignore_ascii_case("fatal") { "error".to_owned() } else { level };
        return match level.parse::<LevelFilter>() {
            Ok(level) => (Targets::new().with_default(level), None),
            Err(_) => (info, Some(format!("AWS_LAMBDA_LOG_LEVEL={level} is not a log level; logging at INFO"))),
        };
    }
    match non_empty(lookup, "RUST_LOG").map(|directives| (directives.parse::<Targets>(), directives)) {
        None => (info, None),
        Some((Ok(targets), _)) => (targets, None),
        Some((Err(_), directives)) => {
            (info, Some(format!("RUST_LOG={directives} is not a list of level or target=level; logging at INFO")))
        }
    }
}

/// Installs the subscriber for the process, writing to stdout. Does nothing if one is installed already.
pub fn init() {
    init_with(&crate::config::process_env, std::io::stdout);
}

/// Installs the subscriber with the settings from `lookup`, writing to `writer`.
pub fn init_with<W>(lookup: &dyn Fn(&str) -> Option<String>, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (targets, problem) = filter(lookup);
    let json = non_empty(lookup, "AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = fmt::layer().with_target(false).without_time().with_ansi(false).with_writer(writer);
    let installed = if json {
        tracing_subscriber::registry().with(layer.json().with_filter(targets)).try_init()
    } else {
        tracing_subscriber::registry().with(layer.with_filter(targets)).try_init()
    };
    if let (Ok(()), Some(problem)) = (installed, problem) {
        tracing::warn!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use crate::config::test_lookup as lookup;

    fn level(targets: &Targets, target: &str) -> Option<LevelFilter> {
        // The most verbose level that `target` lets through.
        [LevelFilter::TRACE, LevelFilter::DEBUG, LevelFilter::INFO, LevelFilter::WARN, LevelFilter::ERROR]
            .into_iter()
            .find(|l| l.into_level().is_some_and(|l| targets.would_enable(target, &l)))
    }

    #[test]
    fn lambda_level_wins_then_rust_log_then_info() {
        let (t, p) = filter(&lookup(&[]));
        assert_eq!((level(&t, "alarm_to_slack"), p), (Some(LevelFilter::INFO), None));
        let (t, _) = filter(&lookup(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "error")]));
        assert_eq!(level(&t, "alarm_to_slack"), Some(LevelFilter::DEBUG));
        let (t, _) = filter(&lookup(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]));
        assert_eq!(level(&t, "alarm_to_slack"), Some(LevelFilter::ERROR));
        let (t, _) = filter(&lookup(&[("RUST_LOG", "warn,aws_smithy_runtime=debug")]));
        assert_eq!(level(&t, "slack_command"), Some(LevelFilter::WARN));
        assert_eq!(level(&t, "aws_smithy_runtime::client"), Some(LevelFilter::DEBUG));
    }

    #[test]
    fn a_bad_setting_logs_at_info_and_says_so() {
        for pairs in [[("AWS_LAMBDA_LOG_LEVEL", "LOUD")], [("RUST_LOG", "info,aws_smithy_runtime=loud")]] {
            let (t, problem) = filter(&lookup(&pairs));
            assert_eq!(level(&t, "alarm_to_slack"), Some(LevelFilter::INFO));
            assert!(problem.is_some_and(|p| p.contains(pairs[0].0)), "{pairs:?}");
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_have_level_fields_and_no_time_and_debug_is_filtered() {
        // The only test in this binary that installs the global subscriber.
        let out = Captured::default();
        init_with(&lookup(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]), out.clone());
        tracing::debug!(kind = "audit", "hidden");
        tracing::info!(kind = "audit", outcome = "ok", "shown");
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["message"], "shown");
        assert_eq!(lines[0]["fields"]["kind"], "audit");
        assert!(lines[0].get("timestamp").is_none() && lines[0].get("target").is_none(), "{text}");
    }
}
