//! AllowKey/DenyKey, system.run and Alias through the library (`AgentCtx::execute*`).
//! Expected answers were checked with zabbix_agentd 6.0.14 `-t` on the same rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use zagent::config::{Alias, Config, KeyRule, Origin, UserParameter};
use zagent::keys::{AgentCtx, KeyResult, NotSupported, Value};

const UNSUPPORTED: &str = "Unsupported item key.";

fn rule(line: &str) -> KeyRule {
    let (directive, pattern) = line.split_once('=').expect("AllowKey=… or DenyKey=…");
    KeyRule {
        allow: directive == "AllowKey",
        pattern: pattern.to_string(),
        origin: Origin {
            file: "test.conf".into(),
            line: 1,
        },
    }
}

fn ctx(rules: &[&str], tweak: impl FnOnce(&mut Config)) -> Arc<AgentCtx> {
    let mut config = Config {
        key_rules: rules.iter().map(|r| rule(r)).collect(),
        ..Config::default()
    };
    tweak(&mut config);
    AgentCtx::try_new(Arc::new(config)).expect("usable config")
}

fn ns(reason: &str) -> KeyResult {
    Err(NotSupported::new(reason))
}

fn text(s: &str) -> KeyResult {
    Ok(Value::Text(s.to_string()))
}

#[tokio::test]
async fn system_run_is_denied_by_default_like_an_unknown_key() {
    let c = ctx(&[], |_| {});
    assert_eq!(c.execute("system.run[echo hi]").await, ns(UNSUPPORTED));
    assert_eq!(
        c.execute("system.run[echo hi,nowait]").await,
        ns(UNSUPPORTED)
    );
    assert_eq!(c.execute("system.run[]").await, ns(UNSUPPORTED));
    // The implicit system.run[*] rule does not match the bare key; the handler answers.
    assert_eq!(
        c.execute("system.run").await,
        ns("Invalid first parameter.")
    );
}

#[tokio::test]
async fn deny_key_on_system_run_wins_over_a_later_allow() {
    let c = ctx(
        &["DenyKey=system.run[*]", "AllowKey=system.run[echo *]"],
        |_| {},
    );
    assert_eq!(c.execute("system.run[echo hi]").await, ns(UNSUPPORTED));
    let c = ctx(
        &["DenyKey=system.run[rm *]", "AllowKey=system.run[*]"],
        |_| {},
    );
    assert_eq!(
        c.execute("system.run[rm -rf /nonexistent]").await,
        ns(UNSUPPORTED)
    );
    assert_eq!(c.execute("system.run[echo ok]").await, text("ok"));
}

#[tokio::test]
async fn allow_key_system_run_echo_allows_only_that() {
    let c = ctx(&["AllowKey=system.run[echo *]"], |_| {});
    assert_eq!(c.execute("system.run[echo hi]").await, text("hi"));
    assert_eq!(c.execute("system.run[\"echo a, b\"]").await, text("a, b"));
    assert_eq!(
        c.execute("system.run[echo hi,nowait]").await,
        ns(UNSUPPORTED)
    );
    assert_eq!(c.execute("system.run[echo hi,wait]").await, ns(UNSUPPORTED));
    assert_eq!(c.execute("system.run[ls /]").await, ns(UNSUPPORTED));
    assert_eq!(c.execute("system.run[id;echo x]").await, ns(UNSUPPORTED));
}

#[tokio::test]
async fn system_run_parameters_and_nowait() {
    let c = ctx(&["AllowKey=system.run[*]"], |_| {});
    assert_eq!(
        c.execute("system.run[]").await,
        ns("Invalid first parameter.")
    );
    assert_eq!(
        c.execute("system.run[,wait]").await,
        ns("Invalid first parameter.")
    );
    assert_eq!(
        c.execute("system.run[echo a,x]").await,
        ns("Invalid second parameter.")
    );
    assert_eq!(
        c.execute("system.run[echo a,wait,z]").await,
        ns("Too many parameters.")
    );
    assert_eq!(
        c.execute("system.run[echo a;echo b >&2]").await,
        text("a\nb")
    );
    assert_eq!(
        c.execute_with_timeout("system.run[sleep 30]", Duration::from_secs(1))
            .await,
        ns("Timeout while executing a shell script.")
    );

    // nowait answers 1 at once; the command runs on and is reaped in the background.
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ran");
    let key = format!("system.run[\"sleep 0.3; touch {}\",nowait]", flag.display());
    assert_eq!(c.execute(&key).await, Ok(Value::Uint(1)));
    assert!(!flag.exists(), "nowait waited for the command");
    for _ in 0..250 {
        if flag.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(flag.exists(), "the nowait command never ran");
}

#[tokio::test]
async fn rules_apply_to_built_ins_and_user_parameters_alike() {
    let c = ctx(&["DenyKey=agent.ping", "DenyKey=my.*[secret*]"], |c| {
        c.user_parameters.push(UserParameter {
            key: "my.up".into(),
            flexible: true,
            command: "echo \"$1\"".into(),
            origin: Origin::default(),
        })
    });
    assert_eq!(c.execute("agent.ping").await, ns(UNSUPPORTED));
    assert_eq!(
        c.execute("agent.version").await,
        Ok(Value::Str("6.0.14".into()))
    );
    // Parameter errors only come after the rules: a denied key never reveals its shape.
    assert_eq!(
        c.execute("agent.ping[]").await,
        ns("Item does not allow parameters.")
    );
    assert_eq!(c.execute("my.up[secret1]").await, ns(UNSUPPORTED));
    assert_eq!(c.execute("my.up[public]").await, text("public"));
}

#[tokio::test]
async fn host_items_bypass_the_rules() {
    let c = ctx(&["DenyKey=*"], |c| {
        c.user_parameters.push(UserParameter {
            key: "meta".into(),
            flexible: false,
            command: "echo linux".into(),
            origin: Origin::default(),
        })
    });
    let t = Duration::from_secs(3);
    assert_eq!(c.execute("agent.ping").await, ns(UNSUPPORTED));
    assert_eq!(c.execute("meta").await, ns(UNSUPPORTED));
    assert_eq!(c.execute_local("agent.ping", t).await, Ok(Value::Uint(1)));
    assert_eq!(c.execute_local("meta", t).await, text("linux"));
    assert_eq!(c.execute_local("system.run[echo h]", t).await, text("h"));
}

#[tokio::test]
async fn aliases_resolve_before_rules() {
    let alias = |a: &str, k: &str| Alias {
        alias: a.into(),
        key: k.into(),
    };
    let c = ctx(&[], |c| {
        c.aliases = vec![
            alias("ping.alias", "agent.ping"),
            alias("run.alias", "system.run[echo aliased]"),
            alias("echo.alias[*]", "my.echo[*]"),
        ];
        c.user_parameters.push(UserParameter {
            key: "my.echo".into(),
            flexible: true,
            command: "echo \"$1-$2\"".into(),
            origin: Origin::default(),
        })
    });
    assert_eq!(c.execute("ping.alias").await, Ok(Value::Uint(1)));
    assert_eq!(c.execute("echo.alias[a,b]").await, text("a-b"));
    // The rules see the aliased key: system.run stays denied behind an alias.
    assert_eq!(c.execute("run.alias").await, ns(UNSUPPORTED));

    let c = ctx(&["DenyKey=agent.ping"], |c| {
        c.aliases = vec![alias("ping.alias", "agent.ping")]
    });
    assert_eq!(c.execute("ping.alias").await, ns(UNSUPPORTED));
}

#[test]
fn unusable_rules_and_aliases_refuse_to_start() {
    let config = Config {
        key_rules: vec![rule("AllowKey=*")],
        ..Config::default()
    };
    let err = AgentCtx::try_new(Arc::new(config)).unwrap_err().to_string();
    assert_eq!(
        err,
        "Item key access rules are configured to match all keys, indicating possible configuration problem.  Please remove the rules if that was the purpose."
    );
    let config = Config {
        key_rules: vec![rule("DenyKey=bad key")],
        ..Config::default()
    };
    let err = AgentCtx::try_new(Arc::new(config)).unwrap_err().to_string();
    assert!(
        err.starts_with("test.conf:1: failed to process DenyKey access rule \"bad key\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_context_from_an_unusable_configuration_denies_every_key() {
    let config = Config {
        key_rules: vec![rule("AllowKey=*")],
        ..Config::default()
    };
    let c = AgentCtx::new(Arc::new(config));
    assert_eq!(c.execute("agent.ping").await, ns(UNSUPPORTED));
    assert_eq!(c.execute("system.run[echo x]").await, ns(UNSUPPORTED));
}
