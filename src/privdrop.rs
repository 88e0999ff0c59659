//! Dropping root: started as root, zagent switches to `User=` (default `zabbix`) unless
//! `AllowRoot=1`, with zabbix_agentd 6.0's rules and messages.
//!
//! Owns the decision and the setgid/initgroups/setuid sequence. It must run after the
//! listener is bound (ports below 1024) and before any command is spawned; it must not
//! open files or sockets.
//!
//! Rules (zabbix_agentd's `daemon_start`): nothing happens when the real uid is not 0 or
//! `AllowRoot=1`. Otherwise the user must exist (`user X does not exist`) and must not be
//! uid 0 (`User=X contradicts AllowRoot=0`); then group, supplementary groups and user are
//! switched, real and effective alike. Every failure is fatal ("cannot run as root!").
//! glibc applies setgid/setgroups/setuid to every thread of the process, so calling this
//! from a running tokio runtime is sound.

use std::io;

use crate::config::Config;

/// Why zagent refuses to go on as root.
#[derive(Debug, thiserror::Error)]
pub enum PrivDropError {
    /// `User=` names no account.
    #[error("user {user} does not exist; cannot run as root! Create the user, set User= to an existing one, or set AllowRoot=1")]
    NoSuchUser {
        /// The name.
        user: String,
    },
    /// `User=` is a uid-0 account.
    #[error("User={user} contradicts AllowRoot=0; cannot run as root! Set User= to an unprivileged account or AllowRoot=1")]
    UserIsRoot {
        /// The name.
        user: String,
    },
    /// The user name cannot be passed to the C library.
    #[error("invalid User={user:?}: it contains a NUL byte")]
    BadName {
        /// The name.
        user: String,
    },
    /// The account database could not be read.
    #[error("cannot look up user {user}: {source}")]
    Lookup {
        /// The name.
        user: String,
        /// The error.
        source: io::Error,
    },
    /// One of the switching calls failed.
    #[error("cannot {call} to {user}: {source}")]
    Switch {
        /// `setgid`, `initgroups`, `setuid`, `setegid or seteuid`.
        call: &'static str,
        /// The name.
        user: String,
        /// The error.
        source: io::Error,
    },
}

/// An account from the user database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// What [`drop_privileges`] will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not running as root, or `AllowRoot=1`: stay as we are.
    Stay,
    /// Switch to this account.
    SwitchTo(Account),
}

/// The pure decision: `uid` is the current real uid; `lookup` finds an account by name.
pub fn plan(
    uid: u32,
    config: &Config,
    lookup: impl FnOnce(&str) -> Result<Option<Account>, PrivDropError>,
) -> Result<Plan, PrivDropError> {
    if uid != 0 || config.allow_root {
        return Ok(Plan::Stay);
    }
    let user = if config.user.is_empty() {
        "zabbix"
    } else {
        config.user.as_str()
    };
    let Some(account) = lookup(user)? else {
        return Err(PrivDropError::NoSuchUser {
            user: user.to_string(),
        });
    };
    if account.uid == 0 {
        return Err(PrivDropError::UserIsRoot {
            user: user.to_string(),
        });
    }
    Ok(Plan::SwitchTo(account))
}

/// Started as root without `AllowRoot=1`: becomes `User=` (default `zabbix`). Call once,
/// after binding the listener and before serving.
pub fn drop_privileges(config: &Config) -> Result<(), PrivDropError> {
    let uid = crate::sys::account::real_uid();
    let account = match plan(uid, config, lookup_user)? {
        Plan::Stay => {
            if uid == 0 {
                tracing::warn!("Running as root (AllowRoot=1)");
            }
            return Ok(());
        }
        Plan::SwitchTo(a) => a,
    };
    if account.name.contains('\0') {
        return Err(PrivDropError::BadName {
            user: account.name.clone(),
        });
    }
    crate::sys::account::switch_to(&account.name, account.uid, account.gid).map_err(
        |(call, source)| PrivDropError::Switch {
            call,
            user: account.name.clone(),
            source,
        },
    )?;
    tracing::info!(user = %account.name, uid = account.uid, gid = account.gid, "Dropped root privileges");
    Ok(())
}

/// The account named `user`, `None` when there is none ([`crate::sys::account`]).
pub fn lookup_user(user: &str) -> Result<Option<Account>, PrivDropError> {
    if user.contains('\0') {
        return Err(PrivDropError::BadName {
            user: user.to_string(),
        });
    }
    match crate::sys::account::user_by_name(user) {
        Ok(found) => Ok(found.map(|u| Account {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
        })),
        Err(source) => Err(PrivDropError::Lookup {
            user: user.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn config(user: &str, allow_root: bool) -> Config {
        Config {
            user: user.to_string(),
            allow_root,
            ..Config::default()
        }
    }

    fn accounts(name: &str) -> Result<Option<Account>, PrivDropError> {
        Ok(match name {
            "zabbix" => Some(Account {
                name: "zabbix".into(),
                uid: 102,
                gid: 105,
            }),
            "root" => Some(Account {
                name: "root".into(),
                uid: 0,
                gid: 0,
            }),
            _ => None,
        })
    }

    #[test]
    fn rules_like_zabbix_agentd() {
        assert_eq!(
            plan(1000, &config("zabbix", false), accounts).unwrap(),
            Plan::Stay
        );
        assert_eq!(
            plan(0, &config("zabbix", true), accounts).unwrap(),
            Plan::Stay
        );
        assert_eq!(
            plan(0, &config("zabbix", false), accounts).unwrap(),
            Plan::SwitchTo(Account {
                name: "zabbix".into(),
                uid: 102,
                gid: 105
            })
        );
        assert!(matches!(
            plan(0, &config("", false), accounts).unwrap(),
            Plan::SwitchTo(Account { uid: 102, .. })
        ));
        let e = plan(0, &config("nobody-here", false), accounts).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("user nobody-here does not exist; cannot run as root!"));
        let e = plan(0, &config("root", false), accounts).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("User=root contradicts AllowRoot=0; cannot run as root!"));
    }

    #[test]
    fn looks_up_real_accounts() {
        let root = lookup_user("root").unwrap().unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup_user("no-such-user-zagent").unwrap(), None);
    }
}
