//! UserParameters through the library (`AgentCtx::execute*`): substitution, unsafe
//! characters, output handling, timeouts that kill the whole process group, the output
//! cap, a fork storm that must not delay `agent.ping`, overriding built-ins, and reload.
//! Expected values were checked with zabbix_agentd 6.0.14 `-t`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zagent::config::{Config, Origin, UserParameter};
use zagent::exec::{OUTPUT_LIMIT_TEXT, TIMEOUT_TEXT};
use zagent::keys::user::UNSAFE_TEXT;
use zagent::keys::{AgentCtx, KeyResult, NotSupported, Value};

/// A `UserParameter=` line's value (`key,command`), as the config reader produces it.
fn up(line: &str) -> UserParameter {
    let (key, command) = line.split_once(',').expect("key,command");
    let (key, flexible) = match key.strip_suffix("[*]") {
        Some(k) => (k, true),
        None => (key, false),
    };
    UserParameter {
        key: key.to_string(),
        flexible,
        command: command.to_string(),
        origin: Origin {
            file: "test.conf".into(),
            line: 1,
        },
    }
}

fn ctx_with(lines: &[&str], tweak: impl FnOnce(&mut Config)) -> Arc<AgentCtx> {
    let mut config = Config {
        user_parameters: lines.iter().map(|l| up(l)).collect(),
        ..Config::default()
    };
    tweak(&mut config);
    AgentCtx::try_new(Arc::new(config)).expect("usable config")
}

fn text(r: KeyResult) -> String {
    match r {
        Ok(Value::Text(t)) => t,
        other => panic!("expected a text value, got {other:?}"),
    }
}

fn ns(reason: &str) -> KeyResult {
    Err(NotSupported::new(reason))
}

#[tokio::test]
async fn dollar_parameters_with_quoted_and_empty_values() {
    let ctx = ctx_with(
        &[
            "vector.echo[*],echo \"$1|$2|$3\"",
            "p[*],printf '%s|' \"$1\" \"$2\" \"$3\"",
            "d[*],echo \"[$$1][$$][$$$1][$1$2][$a][$10][$9]\"",
        ],
        |_| {},
    );
    // The captured vector: zabbix_get vector.echo["a,b",c d] -> "a,b|c d|".
    assert_eq!(
        text(ctx.execute("vector.echo[\"a,b\",c d]").await),
        "a,b|c d|"
    );
    assert_eq!(text(ctx.execute("p[\"x y\",,c]").await), "x y||c|");
    assert_eq!(text(ctx.execute("p[,x]").await), "|x||");
    assert_eq!(text(ctx.execute("p[]").await), "|||");
    assert_eq!(text(ctx.execute("p").await), "|||");
    assert_eq!(text(ctx.execute("p[\"\"]").await), "|||");
    assert_eq!(text(ctx.execute("d[A,B]").await), "[][$][][AB][][A0][]");
    assert_eq!(text(ctx.execute("d").await), "[][$][$][][][0][]");
}

#[tokio::test]
async fn unsafe_characters_are_refused_with_the_official_text() {
    let ctx = ctx_with(
        &["vector.echo[*],echo \"$1|$2|$3\"", "u[*],echo \"$2\""],
        |_| {},
    );
    assert_eq!(ctx.execute("vector.echo[a;b]").await, ns(UNSAFE_TEXT));
    assert_eq!(
        ctx.execute("vector.echo[a,\"$(id)\"]").await,
        ns(UNSAFE_TEXT)
    );
    assert_eq!(
        ctx.execute("vector.echo[\"a\\\"b\"]").await,
        ns(UNSAFE_TEXT)
    );
    // Only substituted parameters are checked.
    assert_eq!(text(ctx.execute("u[a;b,c]").await), "c");
    assert_eq!(ctx.execute("u[a,c;d]").await, ns(UNSAFE_TEXT));

    let ctx = ctx_with(&["vector.echo[*],echo \"$1|$2|$3\""], |c| {
        c.unsafe_user_parameters = true
    });
    assert_eq!(text(ctx.execute("vector.echo[a;b]").await), "a;b||");
}

#[tokio::test]
async fn plain_user_parameters_refuse_parameters_and_substitute_nothing() {
    let ctx = ctx_with(&["plain,echo hi $1 \"$$\" | tr -d 0-9"], |_| {});
    assert_eq!(text(ctx.execute("plain").await), "hi");
    for key in ["plain[]", "plain[x]"] {
        assert_eq!(
            ctx.execute(key).await,
            ns("Item does not allow parameters."),
            "{key}"
        );
    }
}

#[tokio::test]
async fn output_is_stdout_and_stderr_trimmed_and_exit_status_ignored() {
    let ctx = ctx_with(
        &[
            "err,echo out; echo errline >&2; exit 3",
            "ws,printf '  lead\\n\\ta b \\n\\n \\r\\n\\t \\n'",
            "empty,true",
            "bin,printf 'a\\377b\\000c'",
            "killed,echo hi; kill -9 $$",
            "killed.silent,kill -9 $$",
        ],
        |_| {},
    );
    assert_eq!(text(ctx.execute("err").await), "out\nerrline");
    assert_eq!(text(ctx.execute("ws").await), "  lead\n\ta b");
    assert_eq!(text(ctx.execute("empty").await), "");
    assert_eq!(text(ctx.execute("bin").await), "a?b");
    // A shell killed by a signal is an error; its output becomes the reason.
    assert_eq!(ctx.execute("killed").await, ns("hi\n"));
    assert_eq!(
        ctx.execute("killed.silent").await,
        ns("Process killed by signal: 9.")
    );
}

#[tokio::test]
async fn user_parameter_dir_is_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_with(&["pwd,pwd"], |c| {
        c.user_parameter_dir = Some(dir.path().to_path_buf())
    });
    assert_eq!(
        text(ctx.execute("pwd").await),
        dir.path().canonicalize().unwrap().to_string_lossy()
    );
    let ctx = ctx_with(&["pwd,pwd"], |c| {
        c.user_parameter_dir = Some(dir.path().join("missing"))
    });
    assert_eq!(
        ctx.execute("pwd").await,
        ns("[2] No such file or directory")
    );
}

/// Processes (not zombies) whose process group is `pgid`.
fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the last ')': " S ppid pgrp ...".
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, r)| !r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_command_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The shell records its own pid (= the process group), then starts two sleeping
    // children (one in a subshell) that record theirs, and waits.
    let cmd = format!(
        "slow,echo $$ > {f}; sleep 60 & echo $! >> {f}; (sleep 60 & echo $! >> {f}; wait) & wait",
        f = pids.display()
    );
    let ctx = ctx_with(&[&cmd], |_| {});
    let result = ctx
        .execute_with_timeout("slow", Duration::from_secs(1))
        .await;
    assert_eq!(result, ns(TIMEOUT_TEXT));

    let recorded: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(
        recorded.len(),
        3,
        "shell and two children recorded: {recorded:?}"
    );
    let pgid = recorded[0];
    // SIGKILL is delivered at once but reaping by init may lag: poll (bounded).
    let mut left = live_group_members(pgid);
    for _ in 0..100 {
        if left.is_empty() && !recorded.iter().any(|p| pid_alive(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = live_group_members(pgid);
    }
    assert!(left.is_empty(), "processes left in group {pgid}: {left:?}");
    for pid in &recorded {
        assert!(!pid_alive(*pid), "pid {pid} still running");
    }
}

#[tokio::test]
async fn a_background_child_holding_the_pipe_times_out_like_agentd() {
    let ctx = ctx_with(
        &[
            "bg,sleep 30 & echo hi",
            "bgnull,sleep 30 >/dev/null 2>&1 & echo hi",
        ],
        |_| {},
    );
    assert_eq!(
        ctx.execute_with_timeout("bg", Duration::from_secs(1)).await,
        ns(TIMEOUT_TEXT)
    );
    // A child that let go of the pipe does not hold the check (and is left running).
    assert_eq!(
        text(
            ctx.execute_with_timeout("bgnull", Duration::from_secs(5))
                .await
        ),
        "hi"
    );
}

#[tokio::test]
async fn output_over_512_kib_is_refused() {
    let ctx = ctx_with(
        &[
            "big,head -c 524288 /dev/zero | tr '\\0' x",
            "fits,head -c 524287 /dev/zero | tr '\\0' x",
            "endless,yes",
        ],
        |_| {},
    );
    assert_eq!(ctx.execute("big").await, ns(OUTPUT_LIMIT_TEXT));
    assert_eq!(text(ctx.execute("fits").await).len(), 524_287);
    // A command that never stops writing is cut off at the cap, not at the timeout.
    assert_eq!(
        ctx.execute_with_timeout("endless", Duration::from_secs(30))
            .await,
        ns(OUTPUT_LIMIT_TEXT)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_slow_user_parameters_do_not_delay_agent_ping() {
    const SLOW: usize = 50;
    let ctx = ctx_with(&["slow[*],sleep 2; echo done $1"], |_| {});
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..SLOW {
        let (ctx, finished) = (Arc::clone(&ctx), Arc::clone(&finished));
        tasks.push(tokio::spawn(async move {
            let r = ctx
                .execute_with_timeout(&format!("slow[{i}]"), Duration::from_secs(20))
                .await;
            finished.fetch_add(1, Ordering::SeqCst);
            r
        }));
    }
    // Wait (bounded) until every command slot is taken: the storm is on.
    for _ in 0..500 {
        if ctx.user.runner.free_slots() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        ctx.user.runner.free_slots(),
        0,
        "the storm never filled the slots"
    );

    let ping = ctx.execute("agent.ping").await;
    let done_at_ping = finished.load(Ordering::SeqCst);
    assert_eq!(ping, Ok(Value::Uint(1)));
    assert_eq!(done_at_ping, 0, "agent.ping waited for slow commands");

    // Every slow command still answers (those beyond the slot bound waited for a slot).
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(text(t.await.unwrap()), format!("done {i}"));
    }
}

#[tokio::test]
async fn a_user_parameter_wins_over_a_built_in_key() {
    let ctx = ctx_with(&["agent.version,echo mine"], |_| {});
    assert_eq!(text(ctx.execute("agent.version").await), "mine");
    assert_eq!(zagent::keys::user::log_shadowed_builtins(&ctx), 1);
    assert_eq!(
        ctx.execute("agent.ping").await,
        Ok(Value::Uint(1)),
        "other built-ins are untouched"
    );
}

#[test]
fn the_same_key_twice_is_a_start_up_error_naming_both_lines() {
    let mut a = up("dup,echo 1");
    a.origin = Origin {
        file: "/etc/zabbix/zabbix_agentd.conf".into(),
        line: 300,
    };
    let mut b = up("dup[*],echo 2");
    b.origin = Origin {
        file: "/etc/zabbix/zabbix_agentd.d/x.conf".into(),
        line: 2,
    };
    let config = Config {
        user_parameters: vec![a, b],
        ..Config::default()
    };
    let err = AgentCtx::try_new(Arc::new(config)).unwrap_err().to_string();
    assert!(err.contains("key \"dup\" is defined twice"), "{err}");
    assert!(err.contains("/etc/zabbix/zabbix_agentd.conf:300"), "{err}");
    assert!(
        err.contains("/etc/zabbix/zabbix_agentd.d/x.conf:2"),
        "{err}"
    );
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn reload_swaps_user_parameters_and_keeps_them_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("agent.conf");
    write(&conf, "Server=127.0.0.1\nUserParameter=one,echo 1\n");
    let config = zagent::cli::load_config(Some(&conf)).unwrap();
    let ctx = AgentCtx::try_new(Arc::new(config)).unwrap();
    assert_eq!(text(ctx.execute("one").await), "1");
    assert_eq!(ctx.execute("two").await, ns("Unsupported item key."));

    write(
        &conf,
        "Server=127.0.0.1\nUnsafeUserParameters=1\nUserParameter=one,echo uno\nUserParameter=two[*],echo \"2$1\"\n",
    );
    let n = zagent::keys::user::reload_user_parameters(&ctx)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(text(ctx.execute("one").await), "uno");
    assert_eq!(text(ctx.execute("two[x]").await), "2x");
    // As zabbix_agentd: only the UserParameter lines are reloaded, not UnsafeUserParameters.
    assert_eq!(ctx.execute("two[a;b]").await, ns(UNSAFE_TEXT));

    // A duplicate key refuses the reload; the old set stays.
    write(
        &conf,
        "Server=127.0.0.1\nUserParameter=one,echo a\nUserParameter=one,echo b\n",
    );
    let err = zagent::keys::user::reload_user_parameters(&ctx)
        .await
        .unwrap_err();
    // The config reader refuses it first, naming both lines.
    let msg = err.to_string();
    assert!(
        msg.contains("already exists")
            && msg.contains("agent.conf:2")
            && msg.contains("agent.conf:3"),
        "{msg}"
    );
    assert_eq!(text(ctx.execute("one").await), "uno");

    // So does a file that cannot be read.
    std::fs::remove_file(&conf).unwrap();
    assert!(zagent::keys::user::reload_user_parameters(&ctx)
        .await
        .is_err());
    assert_eq!(text(ctx.execute("two[y]").await), "2y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_waits_for_a_free_slot_only_within_its_own_timeout() {
    use zagent::exec::{ExecError, Runner};
    let runner = Runner::new(1);
    let busy = {
        let runner = runner.clone();
        tokio::spawn(async move {
            runner
                .run("sleep 2; echo first", None, Duration::from_secs(20))
                .await
        })
    };
    for _ in 0..500 {
        if runner.free_slots() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runner.free_slots(), 0);
    // The only slot is held for 2 s: a 300 ms check gives up waiting, with the timeout text.
    let starved = runner
        .run("echo second", None, Duration::from_millis(300))
        .await;
    assert!(matches!(starved, Err(ExecError::Timeout)), "{starved:?}");
    assert_eq!(ExecError::Timeout.to_string(), TIMEOUT_TEXT);
    // A check with time to spare runs once the slot is free.
    let patient = runner
        .run("echo third", None, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(patient.bytes, b"third\n");
    let first = busy.await.unwrap().unwrap();
    assert_eq!(first.bytes, b"first\n");
}
