//! `kernel.*` keys: open-file and process limits from `/proc/sys`, as zabbix_agentd 6.0
//! answers them on Linux.
//!
//! Reads through [`crate::sys::procfs`]; owns only key meaning and reason texts.

use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, Params, Request, Value};
use crate::sys::procfs::{self, ProcRoot};

/// The `kernel.*` family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "kernel.maxfiles",
        description: "Maximum number of opened files supported by the OS.",
        params: Params::None,
        test_key: "kernel.maxfiles",
        handler: Handler::Inline(maxfiles),
    },
    KeyDef {
        name: "kernel.maxproc",
        description: "Maximum number of processes supported by the OS.",
        params: Params::None,
        test_key: "kernel.maxproc",
        handler: Handler::Inline(maxproc),
    },
    KeyDef {
        name: "kernel.openfiles",
        description: "Number of currently open file descriptors.",
        params: Params::None,
        test_key: "kernel.openfiles",
        handler: Handler::Inline(openfiles),
    },
];

/// The first number of `/proc/<rel>`, or the reason it could not be read.
pub fn first_number(root: &ProcRoot, rel: &str) -> KeyResult {
    let text = root
        .read(rel)
        .map_err(|e| NotSupported::new(e.to_string()))?;
    procfs::first_u64(&text)
        .map(Value::Uint)
        .ok_or_else(|| NotSupported::new(format!("Cannot obtain data from /proc/{rel}.")))
}

fn maxfiles(_: &AgentCtx, _: &Request) -> KeyResult {
    first_number(&ProcRoot::system(), "sys/fs/file-max")
}

fn maxproc(_: &AgentCtx, _: &Request) -> KeyResult {
    first_number(&ProcRoot::system(), "sys/kernel/pid_max")
}

fn openfiles(_: &AgentCtx, _: &Request) -> KeyResult {
    first_number(&ProcRoot::system(), "sys/fs/file-nr")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_fixture_root() {
        let root = ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc"));
        assert_eq!(
            first_number(&root, "sys/fs/file-max"),
            Ok(Value::Uint(2466170))
        );
        assert_eq!(
            first_number(&root, "sys/kernel/pid_max"),
            Ok(Value::Uint(32768))
        );
        assert_eq!(first_number(&root, "sys/fs/file-nr"), Ok(Value::Uint(530)));
        assert_eq!(
            first_number(&root, "sys/fs/nope"),
            Err(NotSupported::new(
                "Cannot open /proc/sys/fs/nope: [2] No such file or directory"
            ))
        );
    }
}
