//! `zagent test KEY` and `zagent keys`: evaluate keys locally and print them exactly like
//! `zabbix_agentd -t` and `zabbix_agentd -p`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::keys::{AgentCtx, KeyResult, Registry, Value};

/// Width of the key column in `zabbix_agentd -t` output.
const KEY_COLUMN: usize = 45;

/// `zagent test` arguments.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Configuration file (for UserParameters, Hostname, Timeout, …).
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// The item key to evaluate.
    pub key: String,
}

/// `zagent keys` arguments.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Configuration file.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
}

/// One `-t` line: the key padded to 45 columns, then `[type|value]` or
/// `[m|ZBX_NOTSUPPORTED] [reason]`.
pub fn format_line(key: &str, result: &KeyResult) -> String {
    let value = match result {
        Ok(v) => format!("[{}|{}]", v.type_letter(), test_text(v)),
        Err(ns) => format!("[m|ZBX_NOTSUPPORTED] [{}]", ns.0),
    };
    padded(key, &value)
}

/// The key padded to the column, then the answer.
fn padded(key: &str, answer: &str) -> String {
    // printf's `%-45s` in zabbix_agentd pads by bytes, not characters.
    let pad = " ".repeat(KEY_COLUMN.saturating_sub(key.len()));
    format!("{key}{pad} {answer}")
}

/// Writes one output line; `false` once stdout is closed (a reader such as `head` has
/// what it wanted): the caller stops quietly instead of panicking on the broken pipe.
fn emit(line: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// zabbix_agentd -t prints floats with up to 15 significant digits, not the wire's 6
/// decimals.
fn test_text(v: &Value) -> String {
    match v {
        Value::Float(f) => format_g15(*f),
        other => other.to_wire(),
    }
}

/// zabbix_agentd's `zbx_print_double`: `%.15G`, or `%.17G` when 15 digits do not give the
/// value back (`0.1`, `2.88623046875`, `7.5178923805594055E+44`).
pub fn format_g15(f: f64) -> String {
    let short = c_g(f, 15);
    if short.parse::<f64>() == Ok(f) {
        short
    } else {
        c_g(f, 17)
    }
}

/// C's `%.{precision}G`.
fn c_g(f: f64, precision: usize) -> String {
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f.is_nan() {
        return format!("{sign}NAN");
    }
    if f.is_infinite() {
        return format!("{sign}INF");
    }
    if f == 0.0 {
        return format!("{sign}0");
    }
    let strip = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let sci = format!("{:.*e}", precision - 1, f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let m = strip(mantissa.to_string());
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{m}E{esign}{:02}", exp.abs())
    } else {
        let decimals = usize::try_from(precision as i32 - 1 - exp).unwrap_or(0);
        strip(format!("{f:.decimals$}"))
    }
}

fn context(
    config: Option<&std::path::Path>,
) -> anyhow::Result<(tokio::runtime::Runtime, Arc<AgentCtx>)> {
    let mut config = super::load_config_for_test(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // As zabbix_agentd -t/-p: HostnameItem is evaluated first; a failure is a warning
    // and agent.hostname is then empty (zabbix_agentd crashes on it).
    if let Err(e) = rt.block_on(super::apply_hostname_item(&mut config)) {
        eprintln!("zagent: warning: {e:#}");
    }
    let ctx = AgentCtx::try_new(Arc::new(config))?;
    Ok((rt, ctx))
}

/// One `-t` line for `key` as `ctx` answers it. agent.hostmetadata from a
/// `HostMetadataItem` is printed as zabbix_agentd prints it: that agent converts the item's
/// result to a string in place, so `-t` shows both (`[u|1] [s|1]`, `[s|a] [t|a⏎b]`);
/// the wire carries the item's own value, as zagent's does.
fn test_line(ctx: &AgentCtx, key: &str, result: &KeyResult) -> String {
    let from_item = ctx.config.host_metadata.is_none()
        && ctx.config.host_metadata_item.is_some()
        && ctx.user.aliases.resolve(key) == "agent.hostmetadata";
    match result {
        Ok(v) if from_item => format_line_also_str(key, v),
        _ => format_line(key, result),
    }
}

/// A `-t` line for a value zabbix_agentd also holds as a string: numbers print their own
/// type first, then `[s|…]` (floats with 6 decimals); a text prints `[s|first line]` then
/// `[t|…]`; a string prints once.
pub fn format_line_also_str(key: &str, v: &Value) -> String {
    let both = match v {
        Value::Str(_) => return format_line(key, &Ok(v.clone())),
        Value::Uint(_) | Value::Float(_) => {
            format!("[{}|{}] [s|{}]", v.type_letter(), test_text(v), v.to_wire())
        }
        Value::Text(t) => format!("[s|{}] [t|{t}]", v.str_result()),
    };
    padded(key, &both)
}

/// Runs `zagent test KEY`.
pub fn run_test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let (rt, ctx) = context(args.config.as_deref())?;
    let result = rt.block_on(ctx.execute(&args.key));
    emit(&test_line(&ctx, &args.key, &result))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `zagent keys`.
pub fn run_keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let (rt, ctx) = context(args.config.as_deref())?;
    // As zabbix_agentd -p: built-ins, then UserParameters (bare keys), each unless an
    // access rule denies it; a UserParameter that hides a built-in is listed once.
    let params = ctx.user.params();
    let builtins = Registry::all()
        .filter(|def| params.get(def.name).is_none())
        .map(|def| def.test_key.to_string());
    let keys: Vec<String> = builtins
        .chain(params.iter().map(|up| up.key.clone()))
        .filter(|k| ctx.user.rules.allows_text(k))
        .collect();
    // Then the aliases, last defined first (zabbix_agentd keeps them in a pushed-front list).
    let aliases = ctx.user.aliases.names().rev().map(str::to_string);
    for key in keys.into_iter().chain(aliases) {
        let result = rt.block_on(ctx.execute(&key));
        if !emit(&test_line(&ctx, &key, &result))? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::NotSupported;

    #[test]
    fn lines_match_zabbix_agentd() {
        assert_eq!(
            format_line("agent.ping", &Ok(Value::Uint(1))),
            "agent.ping                                    [u|1]"
        );
        assert_eq!(
            format_line("nokey", &Err(NotSupported::new("Unsupported item key."))),
            "nokey                                         [m|ZBX_NOTSUPPORTED] [Unsupported item key.]"
        );
        // Padding counts bytes, as printf does: "café" is 5 bytes, so 40 blanks follow.
        assert_eq!(
            format_line("café", &Ok(Value::Uint(1))),
            format!("café{} [u|1]", " ".repeat(40))
        );
        assert_eq!(
            format_line_also_str("k", &Value::Text("a\r\nb".into())),
            format!("k{} [s|a] [t|a\r\nb]", " ".repeat(44))
        );
        assert_eq!(
            format_line_also_str("k", &Value::Float(2.88623046875)),
            format!("k{} [d|2.88623046875] [s|2.886230]", " ".repeat(44))
        );
        assert_eq!(
            format_line_also_str("k", &Value::Uint(1)),
            format!("k{} [u|1] [s|1]", " ".repeat(44))
        );
        assert_eq!(format_g15(0.05615234375), "0.05615234375");
        assert_eq!(format_g15(1.0), "1");
        assert_eq!(format_g15(0.1), "0.1");
        // What zabbix_agentd -t printed for two modbus.get doubles (17 digits needed).
        for printed in ["7.5178923805594055E+44", "-1.7014635547491816E+38"] {
            let v: f64 = printed.parse().unwrap_or(f64::NAN);
            assert_eq!(format_g15(v), printed);
        }
        assert_eq!(format_g15(1e20), "1E+20");
        assert_eq!(format_g15(0.00001), "1E-05");
        assert_eq!(format_g15(123456.5), "123456.5");
    }
}
