//! The connection-state engine the keys use: netlink dumps with a `/proc/net` fallback
//! (logged once), and single-flight counting so identical concurrent queries share one
//! walk of the socket table. The only module that knows both readers.

use super::model::{Proto, SockFilter, SockRecord, StateCounts, StateMask};
use super::netlink::{dump, wire, wire::TcpInfo, SockDiagError};

/// The directory whose `net/` holds the calling thread's network namespace's tables.
/// `/proc/net` follows the process's main thread; `/proc/thread-self/net` follows the
/// thread, which is what a netlink socket opened by that thread sees too.
pub const PROC_NET_ROOT: &str = "/proc/thread-self";

/// Why the engine could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Netlink failed at run time (not "unavailable": a timeout, a malformed reply).
    #[error("Cannot obtain the {proto} socket table: {reason}")]
    Failed {
        /// "tcp" or "udp".
        proto: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// One in-progress dump that identical queries wait for.
#[derive(Debug, Default)]
struct Flight {
    result: std::sync::Mutex<Option<Result<StateCounts, EngineError>>>,
    done: std::sync::Condvar,
    /// Queries waiting for this flight (besides its leader).
    waiters: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlightKey {
    proto: Proto,
    states: StateMask,
    filter: SockFilter,
}

/// The connection-state engine shared by every key of the family (one per agent, in
/// `AgentCtx`): netlink dumps with a `/proc/net` fallback, and single-flight counting
/// so that identical concurrent queries share one walk of the socket table.
#[derive(Debug)]
pub struct Engine {
    flights: std::sync::Mutex<std::collections::HashMap<FlightKey, std::sync::Arc<Flight>>>,
    proc_root: std::path::PathBuf,
    fallback_logged: std::sync::atomic::AtomicBool,
    /// Skip netlink and read the text tables (tests; kernels known to lack sock_diag).
    proc_only: bool,
    /// Socket-table walks started (netlink dumps or text-table reads): the proof that a
    /// key costs one dump.
    dumps: std::sync::atomic::AtomicU64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(PROC_NET_ROOT)
    }
}

impl Engine {
    /// An engine reading its fallback tables under `<proc_root>/net`.
    pub fn new(proc_root: impl Into<std::path::PathBuf>) -> Engine {
        Engine {
            flights: std::sync::Mutex::new(std::collections::HashMap::new()),
            proc_root: proc_root.into(),
            fallback_logged: std::sync::atomic::AtomicBool::new(false),
            proc_only: false,
            dumps: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// An engine that never uses netlink and reads `<proc_root>/net/{tcp,tcp6,udp,udp6}`
    /// (the fallback path, for tests and for kernels known to lack sock_diag).
    pub fn proc_tables(proc_root: impl Into<std::path::PathBuf>) -> Engine {
        Engine {
            proc_only: true,
            ..Engine::new(proc_root)
        }
    }

    /// Visits every socket of `proto` in `states` (netlink; `/proc/net` where netlink is
    /// unavailable, logged once). Blocks: call from a blocking context.
    pub fn visit(
        &self,
        proto: Proto,
        states: StateMask,
        timeout: std::time::Duration,
        visit: &mut dyn FnMut(&SockRecord),
    ) -> Result<(), EngineError> {
        self.visit_ports(proto, states, (None, None), timeout, visit)
    }

    /// [`Engine::visit`] with a kernel-side prefilter on exact local/remote ports (the
    /// visitor may still see other sockets and must filter itself).
    pub fn visit_ports(
        &self,
        proto: Proto,
        states: StateMask,
        ports: (Option<u16>, Option<u16>),
        timeout: std::time::Duration,
        visit: &mut dyn FnMut(&SockRecord),
    ) -> Result<(), EngineError> {
        self.dumps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let failed = |reason: String| EngineError::Failed {
            proto: proto.name(),
            reason,
        };
        // The text tables list every state: filter on our side.
        let from_text = |visit: &mut dyn FnMut(&SockRecord)| {
            let mut only = |r: &SockRecord| {
                if states.contains(r.state) {
                    visit(r)
                }
            };
            super::procnet::visit(&self.proc_root, proto, &mut only)
                .map_err(|e| failed(e.to_string()))
        };
        if self.proc_only {
            return from_text(visit);
        }
        // Fall back only when netlink gave nothing at all: a dump that failed halfway
        // must not be completed from the text tables (that would count twice).
        let mut seen = 0usize;
        let mut counting = |r: &SockRecord| {
            seen += 1;
            visit(r)
        };
        let result = dump::visit(proto, states, ports, timeout, &mut counting);
        match result {
            Ok(()) => Ok(()),
            Err(e @ (SockDiagError::Open(_) | SockDiagError::Wire(wire::WireError::Kernel(_))))
                if seen == 0 =>
            {
                if !self
                    .fallback_logged
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        error = %e,
                        "Netlink sock_diag unavailable; reading /proc/net tables instead (slower)"
                    );
                }
                from_text(visit)
            }
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// How many socket-table walks this engine has started (every [`Engine::visit`],
    /// [`Engine::visit_ports`], [`Engine::visit_info`] and non-shared [`Engine::count`]
    /// is one).
    pub fn dumps(&self) -> u64 {
        self.dumps.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Visits every TCP socket in `states` with its `tcp_info` (a separate, bigger
    /// netlink request). Where netlink is unavailable the text tables are read and
    /// every socket comes with `None`: counts intact, quality absent.
    pub fn visit_info(
        &self,
        states: StateMask,
        timeout: std::time::Duration,
        visit: &mut dyn FnMut(&SockRecord, Option<&TcpInfo>),
    ) -> Result<(), EngineError> {
        if self.proc_only {
            return self.visit(Proto::Tcp, states, timeout, &mut |r| visit(r, None));
        }
        let mut seen = 0usize;
        let result = {
            let mut counting = |r: &SockRecord, i: Option<&TcpInfo>| {
                seen += 1;
                visit(r, i)
            };
            self.dumps
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            dump::visit_info(Proto::Tcp, states, timeout, &mut counting)
        };
        match result {
            Ok(()) => Ok(()),
            Err(SockDiagError::Open(_) | SockDiagError::Wire(wire::WireError::Kernel(_)))
                if seen == 0 =>
            {
                // Counted again by visit_ports: the fallback is a second walk.
                self.visit(Proto::Tcp, states, timeout, &mut |r| visit(r, None))
            }
            Err(e) => Err(EngineError::Failed {
                proto: "tcp",
                reason: e.to_string(),
            }),
        }
    }

    /// Counts the sockets of `proto` in `states` passing `filter`, per state. Identical
    /// concurrent calls share one dump. Blocks: call from a blocking context.
    pub fn count(
        &self,
        proto: Proto,
        states: StateMask,
        filter: &SockFilter,
        timeout: std::time::Duration,
    ) -> Result<StateCounts, EngineError> {
        let key = FlightKey {
            proto,
            states,
            filter: *filter,
        };
        self.single_flight(key, timeout, || {
            let mut counts = StateCounts::default();
            let ports = (filter.lport, filter.rport);
            self.visit_ports(proto, states, ports, timeout, &mut |r| {
                if filter.matches(r) {
                    counts.add(r.state)
                }
            })
            .map(|()| counts)
        })
    }

    /// Runs `run` for `key` unless a run for the same key is in progress, in which case
    /// it waits (at most `timeout`) for that run's result instead.
    fn single_flight(
        &self,
        key: FlightKey,
        timeout: std::time::Duration,
        run: impl FnOnce() -> Result<StateCounts, EngineError>,
    ) -> Result<StateCounts, EngineError> {
        let (flight, leader) = {
            let mut map = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(f) => {
                    f.waiters.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    (std::sync::Arc::clone(f), false)
                }
                None => {
                    let f = std::sync::Arc::new(Flight::default());
                    map.insert(key, std::sync::Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if leader {
            let r = run();
            // Unpublish first, so a later query starts a fresh dump.
            self.flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            *flight.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
            flight.done.notify_all();
            return r;
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut slot = flight.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = slot.as_ref() {
                return r.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(EngineError::Failed {
                    proto: key.proto.name(),
                    reason: "timed out waiting for a dump in progress".to_string(),
                });
            }
            slot = flight
                .done
                .wait_timeout(slot, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    #[cfg(test)]
    fn waiters(&self, key: &FlightKey) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map_or(0, |f| f.waiters.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::sys::sockets::model::state;

    #[test]
    fn identical_concurrent_counts_share_one_run() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let engine = Arc::new(Engine::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = FlightKey {
            proto: Proto::Tcp,
            states: StateMask::ALL,
            filter: SockFilter::default(),
        };
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (engine, runs) = (Arc::clone(&engine), Arc::clone(&runs));
                std::thread::spawn(move || {
                    // Thread 0 leads; the others start once its flight is published.
                    if i > 0 {
                        let t = Instant::now();
                        while engine.flights.lock().unwrap().is_empty()
                            && t.elapsed() < Duration::from_secs(5)
                        {
                            std::thread::yield_now();
                        }
                    }
                    engine.single_flight(key, Duration::from_secs(10), || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // Hold the flight until all seven followers wait on it.
                        let t = Instant::now();
                        while engine.waiters(&key) < 7 && t.elapsed() < Duration::from_secs(5) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        let mut c = StateCounts::default();
                        c.add(state::LISTEN);
                        Ok(c)
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().unwrap().get(state::LISTEN), 1);
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one run served all eight queries"
        );
        assert!(
            engine.flights.lock().unwrap().is_empty(),
            "flight unpublished"
        );
    }
}
