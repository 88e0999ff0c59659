//! `zagent generate {man,completions,conf} DIR` (hidden): the files the Debian package
//! installs, generated from the definitions they describe so that they cannot drift —
//! man pages from the clap command tree (clap_mangen) plus `zagent.conf(5)` and the
//! packaged `zagent.conf` from the directive documentation (`config::doc`), and shell
//! completions (clap_complete).
//!
//! A hidden subcommand rather than an xtask or build script: the pages come from the very
//! binary that is packaged (no second crate to keep in step with `cli`), and
//! `scripts/package.sh` needs nothing but the release build it already has. The cost is
//! the two small generator crates in the binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::config::directives::{lookup, Kind};
use crate::config::doc::{Doc, DOCS};

/// `zagent generate` arguments.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// zagent.8, zagent-SUBCOMMAND.8 and zagent.conf.5 into DIR.
    Man { dir: PathBuf },
    /// zagent.bash, _zagent (zsh) and zagent.fish into DIR.
    Completions { dir: PathBuf },
    /// The packaged configuration file, written to FILE.
    Conf { file: PathBuf },
}

/// Writes the requested files; prints each path written.
pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let written = match args.what {
        What::Man { dir } => man_pages(&dir)?,
        What::Completions { dir } => completions(&dir)?,
        What::Conf { file } => {
            write(&file, &conf_file())?;
            vec![file]
        }
    };
    for p in written {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn command() -> clap::Command {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The command tree without hidden subcommands: clap_complete offers hidden ones too.
fn visible_command() -> clap::Command {
    let full = command();
    let subs: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut cmd = clap::Command::new("zagent")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(true)
        .disable_help_subcommand(true)
        .subcommands(subs);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd.build();
    cmd
}

fn man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cmd = command();
    let mut out = Vec::new();
    let man = |c: clap::Command| {
        clap_mangen::Man::new(c)
            .section("8")
            .manual("System Administration")
            .source(format!("zagent {}", env!("CARGO_PKG_VERSION")))
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = man(sub.clone());
        out.push(
            page.generate_to(dir)
                .with_context(|| format!("cannot write a man page into {}", dir.display()))?,
        );
    }
    out.push(
        man(cmd)
            .generate_to(dir)
            .with_context(|| format!("cannot write a man page into {}", dir.display()))?,
    );
    let conf5 = dir.join("zagent.conf.5");
    write(&conf5, &conf_man_page())?;
    out.push(conf5);
    Ok(out)
}

fn completions(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use clap_complete::Shell;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut out = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = visible_command();
        out.push(
            clap_complete::generate_to(shell, &mut cmd, "zagent", dir).with_context(|| {
                format!("cannot write {shell} completions into {}", dir.display())
            })?,
        );
    }
    Ok(out)
}

/// "Range: a-b" of an integer directive, from the directive table.
fn range(name: &str) -> Option<String> {
    match lookup(name) {
        Some((Kind::Int(min, max), _)) => Some(format!("{min}-{max}")),
        Some((Kind::Time(min, max), _)) => Some(format!("{min}-{max} seconds")),
        _ => None,
    }
}

fn repeatable(name: &str) -> bool {
    name == "Include" || matches!(lookup(name), Some((Kind::Multi | Kind::KeyRule(_), _)))
}

/// Words of `text` in lines of at most `width` columns.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The packaged /etc/zagent/zagent.conf: every directive, commented, with what it does,
/// its range and default; the lines the package sets are uncommented.
pub fn conf_file() -> String {
    let mut s = String::new();
    s.push_str(
        "# /etc/zagent/zagent.conf: configuration of zagent, a Zabbix-compatible agent.\n\
         # The format is zabbix_agentd.conf's: one Name=value per line, `#` starts a comment.\n\
         # Every directive zagent reads is listed below with its default; see zagent.conf(5).\n\
         #\n\
         # Keep this file as shipped and put local settings in /etc/zagent/zagent.d/*.conf\n\
         # (read last, so they win). Check a change with `zagent check-config` before\n\
         # `systemctl restart zagent`; user parameters alone: `systemctl reload zagent`.\n",
    );
    let mut section = "";
    for doc in DOCS {
        if doc.section != section {
            section = doc.section;
            let _ = write!(
                s,
                "\n############ {} ############\n",
                section.to_uppercase()
            );
        }
        conf_entry(&mut s, doc);
    }
    s
}

fn conf_entry(s: &mut String, doc: &Doc) {
    let _ = writeln!(s, "\n### Option: {}", doc.name);
    for line in wrap(doc.text, 84) {
        let _ = writeln!(s, "#\t{line}");
    }
    s.push_str("#\n");
    let mandatory = if doc.name == "Server" {
        "yes, if StartAgents is not 0"
    } else {
        "no"
    };
    let _ = writeln!(s, "# Mandatory: {mandatory}");
    if let Some(r) = range(doc.name) {
        let _ = writeln!(s, "# Range: {r}");
    }
    if repeatable(doc.name) {
        s.push_str("# May be repeated.\n");
    }
    s.push_str("# Default:\n");
    if doc.default.is_empty() || doc.default.contains(' ') || doc.default == "SOMAXCONN" {
        let _ = writeln!(
            s,
            "# {}={}",
            doc.name,
            if doc.default.contains(' ') || doc.default == "SOMAXCONN" {
                format!("\t(none: {})", doc.default)
            } else {
                String::new()
            }
        );
    } else {
        let _ = writeln!(s, "# {}={}", doc.name, doc.default);
    }
    if let Some(v) = doc.packaged {
        let _ = writeln!(s, "\n{}={v}", doc.name);
    }
}

/// Escapes text for roff: backslashes, and a leading `.` or `'` that would be a request.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// zagent.conf(5), from the same table as the packaged file.
pub fn conf_man_page() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut s = String::new();
    let _ = writeln!(
        s,
        ".TH ZAGENT.CONF 5 \"\" \"zagent {version}\" \"File Formats\""
    );
    s.push_str(
        ".SH NAME\nzagent.conf \\- configuration file of zagent, a Zabbix\\-compatible agent\n",
    );
    s.push_str(".SH SYNOPSIS\n/etc/zagent/zagent.conf\n");
    s.push_str(".SH DESCRIPTION\n");
    s.push_str(&roff(
        "zagent reads the format of zabbix_agentd.conf: one Name=value per line; blank lines and lines starting with # are ignored; names are case-sensitive; an unknown name is an error. A directive given twice keeps the last value (zagent warns), except those marked repeatable, which add up. Files written for zabbix_agentd 6.0 and zabbix_agent2 load as they are: `zagent check-config -c FILE` lists the directives zagent ignores or reads differently.",
    ));
    s.push_str("\n.PP\n");
    s.push_str(&roff(
        "The packaged file sets PidFile, LogType=console (the journal), Server=127.0.0.1,::1 and Include=/etc/zagent/zagent.d/*.conf; everything else has the default shown.",
    ));
    s.push('\n');
    let mut section = "";
    for doc in DOCS {
        if doc.section != section {
            section = doc.section;
            let _ = writeln!(s, ".SH {}", roff(&section.to_uppercase()));
        }
        let _ = writeln!(s, ".TP\n.B {}", doc.name);
        s.push_str(&roff(doc.text));
        s.push('\n');
        let mut facts = Vec::new();
        if let Some(r) = range(doc.name) {
            facts.push(format!("Range: {r}."));
        }
        if !doc.default.is_empty() {
            facts.push(format!("Default: {}.", doc.default));
        }
        if repeatable(doc.name) {
            facts.push("Repeatable.".to_string());
        }
        if let Some(v) = doc.packaged {
            facts.push(format!("Packaged file: {}={v}.", doc.name));
        }
        if !facts.is_empty() {
            let _ = writeln!(s, ".br\n{}", roff(&facts.join(" ")));
        }
    }
    s.push_str(".SH FILES\n.TP\n/etc/zagent/zagent.conf\nThe main file (a conffile: kept on upgrade when changed).\n");
    s.push_str(".TP\n/etc/zagent/zagent.d/*.conf\nLocal settings, read last.\n");
    s.push_str(
        ".SH SEE ALSO\n.BR zagent (8),\n.BR zagent\\-check\\-config (8),\n.BR zagent\\-run (8)\n",
    );
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn packaged_file_sets_only_the_packaged_values_and_loads() {
        let text = conf_file();
        let set: Vec<&str> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            set,
            [
                "PidFile=/run/zagent/zagent.pid",
                "LogType=console",
                "Server=127.0.0.1,::1",
                "Include=/etc/zagent/zagent.d/*.conf"
            ]
        );
        // Every directive appears, commented, with its default.
        for doc in DOCS {
            assert!(
                text.contains(&format!("### Option: {}\n", doc.name)),
                "{}",
                doc.name
            );
        }
        assert!(text.contains("### Option: Timeout\n"));
        assert!(text.contains("# Range: 1-30\n# Default:\n# Timeout=3\n"));
        // It loads (the Include directory need not exist for this check: drop that line).
        let without_include = text.replace("Include=/etc/zagent/zagent.d/*.conf", "");
        let cfg = crate::config::parse_str(&without_include, Path::new("zagent.conf")).unwrap();
        assert_eq!(cfg.listen_port, 10050);
        assert_eq!(cfg.server.len(), 2);
        assert_eq!(cfg.log_type, crate::config::LogType::Console);
    }

    #[test]
    fn conf_man_page_has_every_directive() {
        let page = conf_man_page();
        for doc in DOCS {
            assert!(
                page.contains(&format!(".TP\n.B {}\n", doc.name)),
                "{}",
                doc.name
            );
        }
        assert!(!page
            .lines()
            .any(|l| l.starts_with('.') && l.len() > 1 && l.as_bytes()[1] == b' '));
    }

    #[test]
    fn files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let pages = man_pages(dir.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "zagent.8",
            "zagent-run.8",
            "zagent-check-config.8",
            "zagent.conf.5",
        ] {
            assert!(names.contains(&want.to_string()), "{names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
        let comp = completions(dir.path()).unwrap();
        assert_eq!(comp.len(), 3);
        let bash = std::fs::read_to_string(dir.path().join("zagent.bash")).unwrap();
        assert!(bash.contains("check-config"));
        assert!(!bash.contains("generate"));
    }
}
