//! What an answer to "active checks" changes, decided without I/O: the redirection, the
//! failure being reported, the configuration revision, the 7.0 upload switch and when to
//! ask again. Pure (no clock, no socket, no logging): [`on_reply`] returns what happened as
//! [`Event`]s and the item list to apply; the worker logs, applies and schedules.

use super::proto::{ActiveChecksReply, ActiveItem, GlobalRegexp, Redirect, RemoteCommand};
use crate::config::{ActiveAddr, DEFAULT_ACTIVE_PORT};

/// Redirections followed one after the other before waiting for the next refresh.
pub const MAX_REDIRECTS: u32 = 3;

/// What the worker remembers between item-list requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshState {
    /// The address the server redirected us to, and the redirection's revision.
    pub redirect: Option<(ActiveAddr, u64)>,
    /// Redirections followed since the last item list.
    pub redirects_in_row: u32,
    /// The failure last reported (reported again only when it changes).
    pub failing: Option<String>,
    /// `config_revision` of the last item list (0: none yet, or a 6.0 server).
    pub config_revision: u64,
    /// The last item list carried `config_revision` (6.4+): heartbeats are welcome.
    pub server_has_revision: bool,
    /// 7.0 `upload: "disabled"`: no values are sent until an item list omits it.
    pub upload_disabled: bool,
}

/// When to ask for the item list again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// At once (a redirection was followed).
    Now,
    /// After `RefreshActiveChecks`.
    Refresh,
    /// After `min(RefreshActiveChecks, REFRESH_RETRY)` (the request failed).
    Retry,
}

/// Something worth a log line, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UploadDisabled,
    UploadAllowed,
    /// The item list comes again after a failure.
    WorkingAgain,
    /// No item list, and we hold a revision: nothing changed.
    Unchanged,
    /// No item list for a first request (only meaningful with a revision).
    NoListOnFirstRequest,
    RedirectReset,
    Redirected(ActiveAddr),
    /// A redirection with an older revision than the one followed.
    OlderRedirectIgnored(u64),
    BadRedirectAddress(String),
    TooManyRedirects,
    /// The server answered "failed" (reported when the text changes).
    NoActiveChecks(String),
    /// No usable answer (reported when the error changes).
    UpdateFailed(String),
}

/// What one answer asks of the worker.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when the worker keeps its list.
    pub items: Option<(Vec<ActiveItem>, Vec<GlobalRegexp>)>,
    /// 7.0 remote commands carried by the list.
    pub commands: Vec<RemoteCommand>,
    pub events: Vec<Event>,
    /// When to ask again.
    pub next: Next,
    /// The answer was an item list (success): the heartbeat schedule is re-evaluated.
    pub listed: bool,
}

/// Applies one answer (or the error of the exchange) to `state`.
pub fn on_reply(state: &mut RefreshState, reply: Result<ActiveChecksReply, String>) -> Outcome {
    let mut out = Outcome {
        items: None,
        commands: Vec::new(),
        events: Vec::new(),
        next: Next::Refresh,
        listed: false,
    };
    match reply {
        Ok(ActiveChecksReply::Success {
            items,
            regexps,
            config_revision,
            commands,
            upload_disabled,
        }) => {
            out.commands = commands;
            if upload_disabled != state.upload_disabled {
                out.events.push(if upload_disabled {
                    Event::UploadDisabled
                } else {
                    Event::UploadAllowed
                });
                state.upload_disabled = upload_disabled;
            }
            state.redirects_in_row = 0;
            if state.failing.take().is_some() {
                out.events.push(Event::WorkingAgain);
            }
            state.server_has_revision = config_revision.is_some();
            match items {
                Some(items) => out.items = Some((items, regexps)),
                None if state.config_revision != 0 => out.events.push(Event::Unchanged),
                None => out.events.push(Event::NoListOnFirstRequest),
            }
            state.config_revision = config_revision.unwrap_or(0);
            out.listed = true;
        }
        Ok(ActiveChecksReply::Redirect(r)) => {
            match r {
                Redirect::Reset => {
                    out.events.push(Event::RedirectReset);
                    state.redirect = None;
                }
                Redirect::To { address, revision } => {
                    if state
                        .redirect
                        .as_ref()
                        .is_some_and(|(_, rev)| *rev > revision)
                    {
                        out.events.push(Event::OlderRedirectIgnored(revision));
                    } else if let Some(a) = parse_address(&address) {
                        out.events.push(Event::Redirected(a.clone()));
                        state.redirect = Some((a, revision));
                    } else {
                        out.events.push(Event::BadRedirectAddress(address));
                    }
                }
            }
            // Ask the new address right away, but never loop on redirections.
            state.redirects_in_row += 1;
            out.next = if state.redirects_in_row > MAX_REDIRECTS {
                out.events.push(Event::TooManyRedirects);
                state.redirects_in_row = 0;
                Next::Refresh
            } else {
                Next::Now
            };
        }
        Ok(ActiveChecksReply::Failed(info)) => {
            if state.failing.as_deref() != Some(info.as_str()) {
                out.events.push(Event::NoActiveChecks(info.clone()));
                state.failing = Some(info);
            }
        }
        Err(e) => {
            if state.failing.as_deref() != Some(e.as_str()) {
                out.events.push(Event::UpdateFailed(e.clone()));
                state.failing = Some(e);
            }
            out.next = Next::Retry;
        }
    }
    out
}

/// `host:port`, `[v6]:port` or a bare host (port 10051).
pub fn parse_address(s: &str) -> Option<ActiveAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once(']')?;
        let port = match p.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if p.is_empty() => DEFAULT_ACTIVE_PORT,
            None => return None,
        };
        return Some(ActiveAddr {
            host: h.to_string(),
            port,
        });
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some(ActiveAddr {
            host: h.to_string(),
            port: p.parse().ok()?,
        }),
        Some(_) => Some(ActiveAddr {
            host: s.to_string(),
            port: DEFAULT_ACTIVE_PORT,
        }),
        None if !s.is_empty() => Some(ActiveAddr {
            host: s.to_string(),
            port: DEFAULT_ACTIVE_PORT,
        }),
        None => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::proto::parse_active_checks;
    use super::*;

    /// A synthetic server answer, through the same parser the worker uses.
    fn reply(json: &str) -> Result<ActiveChecksReply, String> {
        parse_active_checks(json.as_bytes()).map_err(|e| e.to_string())
    }

    const LIST_60: &str = r#"{"response":"success","data":[{"key":"agent.ping","itemid":1,"delay":"30","lastlogsize":0,"mtime":0}]}"#;
    const LIST_70: &str = r#"{"response":"success","config_revision":7,"data":[{"key":"agent.ping","itemid":1,"delay":"30","lastlogsize":0,"mtime":0}]}"#;
    const UNCHANGED_70: &str = r#"{"response":"success","config_revision":7}"#;

    fn addr(host: &str, port: u16) -> ActiveAddr {
        ActiveAddr {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn an_item_list_is_applied_and_the_revision_kept() {
        let mut s = RefreshState::default();
        let o = on_reply(&mut s, reply(LIST_60));
        let (items, _) = o.items.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].key, "agent.ping");
        assert_eq!(o.next, Next::Refresh);
        assert!(o.listed && o.events.is_empty());
        assert_eq!((s.config_revision, s.server_has_revision), (0, false));

        let o = on_reply(&mut s, reply(LIST_70));
        assert!(o.items.is_some());
        assert_eq!((s.config_revision, s.server_has_revision), (7, true));
        // Same revision, no list: keep ours.
        let o = on_reply(&mut s, reply(UNCHANGED_70));
        assert!(o.items.is_none());
        assert_eq!(o.events, vec![Event::Unchanged]);
    }

    #[test]
    fn no_list_for_a_first_request_is_reported() {
        let mut s = RefreshState::default();
        let o = on_reply(&mut s, reply(UNCHANGED_70));
        assert!(o.items.is_none());
        assert_eq!(o.events, vec![Event::NoListOnFirstRequest]);
        assert_eq!(s.config_revision, 7);
    }

    #[test]
    fn failures_are_reported_once_each_and_retried_sooner() {
        let mut s = RefreshState::default();
        let o = on_reply(&mut s, Err("connection refused".into()));
        assert_eq!(
            o.events,
            vec![Event::UpdateFailed("connection refused".into())]
        );
        assert_eq!(o.next, Next::Retry);
        assert!(!o.listed);
        let o = on_reply(&mut s, Err("connection refused".into()));
        assert!(o.events.is_empty());
        assert_eq!(o.next, Next::Retry);
        let failed = r#"{"response":"failed","info":"host [h] not found"}"#;
        let o = on_reply(&mut s, reply(failed));
        assert_eq!(
            o.events,
            vec![Event::NoActiveChecks("host [h] not found".into())]
        );
        assert_eq!(o.next, Next::Refresh);
        assert!(on_reply(&mut s, reply(failed)).events.is_empty());
        let o = on_reply(&mut s, reply(LIST_60));
        assert_eq!(o.events, vec![Event::WorkingAgain]);
        assert_eq!(s.failing, None);
    }

    #[test]
    fn redirections_are_followed_at_once_but_not_forever() {
        let mut s = RefreshState::default();
        let to = |a: &str, rev: u64| {
            format!(r#"{{"response":"failed","redirect":{{"revision":{rev},"address":"{a}"}}}}"#)
        };
        let o = on_reply(&mut s, reply(&to("10.0.0.2:10052", 5)));
        assert_eq!(o.events, vec![Event::Redirected(addr("10.0.0.2", 10052))]);
        assert_eq!(o.next, Next::Now);
        assert!(o.items.is_none() && !o.listed);
        // An older revision does not move us.
        let o = on_reply(&mut s, reply(&to("10.0.0.3", 4)));
        assert_eq!(o.events, vec![Event::OlderRedirectIgnored(4)]);
        assert_eq!(s.redirect, Some((addr("10.0.0.2", 10052), 5)));
        let o = on_reply(&mut s, reply(&to("h:x", 6)));
        assert_eq!(o.events, vec![Event::BadRedirectAddress("h:x".into())]);
        assert_eq!(o.next, Next::Now);
        // The fourth in a row waits for the next refresh.
        let o = on_reply(&mut s, reply(&to("[::1]:10053", 7)));
        assert_eq!(
            o.events,
            vec![
                Event::Redirected(addr("::1", 10053)),
                Event::TooManyRedirects
            ]
        );
        assert_eq!(o.next, Next::Refresh);
        assert_eq!(s.redirects_in_row, 0);
        let o = on_reply(
            &mut s,
            reply(r#"{"response":"failed","redirect":{"revision":8,"reset":true}}"#),
        );
        assert_eq!(o.events, vec![Event::RedirectReset]);
        assert_eq!(o.next, Next::Now);
        assert_eq!(s.redirect, None);
        // A reset counts as a redirection; an item list ends the run.
        on_reply(&mut s, reply(&to("10.0.0.2", 9)));
        assert_eq!(s.redirects_in_row, 2);
        on_reply(&mut s, reply(LIST_60));
        assert_eq!(s.redirects_in_row, 0);
    }

    #[test]
    fn the_upload_switch_is_reported_when_it_flips() {
        let mut s = RefreshState::default();
        let off = r#"{"response":"success","upload":"disabled","data":[]}"#;
        let o = on_reply(&mut s, reply(off));
        assert_eq!(o.events, vec![Event::UploadDisabled]);
        assert!(s.upload_disabled);
        assert!(on_reply(&mut s, reply(off)).events.is_empty());
        let o = on_reply(&mut s, reply(r#"{"response":"success","data":[]}"#));
        assert_eq!(o.events, vec![Event::UploadAllowed]);
        assert!(!s.upload_disabled);
    }

    #[test]
    fn remote_commands_are_handed_over() {
        let mut s = RefreshState::default();
        let o = on_reply(
            &mut s,
            reply(
                r#"{"response":"success","data":[],"commands":[{"command":"id","id":11,"wait":1}]}"#,
            ),
        );
        assert_eq!(o.commands.len(), 1);
        assert_eq!(o.commands[0].id, 11);
    }

    #[test]
    fn redirect_addresses() {
        let a = parse_address("10.0.0.2:10052").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("10.0.0.2", 10052));
        let a = parse_address("[::1]:10053").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 10053));
        let a = parse_address("proxy.example").unwrap();
        assert_eq!(a.port, 10051);
        assert!(parse_address("").is_none());
        assert!(parse_address("h:x").is_none());
    }
}
