//! `zagent run -c FILE` with ServerActive against the real Zabbix 6.0 server of the lab:
//! the same wiring a user gets (config file → active workers → agent data), end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "interop/lab.rs"]
mod lab;

use lab::util;

use std::time::{Duration, Instant};

use lab::Lab;

#[test]
fn zagent_run_sends_active_values_from_its_config_file() {
    let lab = Lab::shared();
    let host = "zt-run-active";
    lab.fresh_host(
        host,
        &[
            "agent.ping:1s",
            "tcp.status[listen]:1s",
            "net.tcp.states:1s:text",
            "zt.run.no.such.key:1s",
        ],
    );
    let agent = util::start_zagent(&format!(
        "Server=127.0.0.1\nServerActive=127.0.0.1:{}\nHostname={host}\nRefreshActiveChecks=60\nBufferSend=1\n",
        lab.port
    ));
    assert!(
        lab.wait(host, "agent.ping", 2, 30),
        "no agent.ping values from zagent run"
    );
    assert_eq!(lab.values(host, "agent.ping")[0], "1");
    assert!(
        lab.wait(host, "tcp.status[listen]", 1, 10),
        "no tcp.status value"
    );
    // At least zagent's own passive listener is listening.
    let listen: u64 = lab.values(host, "tcp.status[listen]")[0].parse().unwrap();
    assert!(listen >= 1, "tcp.status[listen] = {listen}");
    assert!(
        lab.wait(host, "net.tcp.states", 1, 10),
        "no net.tcp.states value"
    );
    let states: serde_json::Value =
        serde_json::from_str(&lab.values(host, "net.tcp.states")[0]).unwrap();
    assert!(states["listen"].as_u64().unwrap() >= 1, "{states}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut state = String::new();
    while Instant::now() < deadline {
        state = lab.state(host, "zt.run.no.such.key");
        if state.starts_with("notsupported") {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(state, "notsupported\tUnsupported item key.");
    drop(agent);
    lab.run_ok(&["reset", host]).unwrap();
}
