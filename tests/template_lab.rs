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
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use lab::util::zabbix_api::Api;
use lab::util::{self, Proc};
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

/// Held (shared) by every lab host while it lives, and (exclusively) by the test that
/// re-imports the templates: an import updates every host linked to the template, and
/// the frontend fails it ("SQL statement execution has failed", seen in the suite) when
/// another test deletes such a host, or the server rediscovers its items, at the same time.
static LINKED_HOSTS: RwLock<()> = RwLock::new(());

/// A lab host (deleted on drop) with an agent interface at ip:port.
struct Host<'a> {
    api: &'a Api,
    id: String,
    _linked: RwLockReadGuard<'static, ()>,
}

impl<'a> Host<'a> {
    fn create(
        api: &'a Api,
        name: &str,
        ip: &str,
        port: u16,
        templates: &[&str],
        macros: &[(&str, &str)],
    ) -> Host<'a> {
        let linked = LINKED_HOSTS.read().unwrap_or_else(|e| e.into_inner());
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
            _linked: linked,
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

    /// Waits (bounded) until problems containing `needle` exist and ALL are resolved: a
    /// condition sampled at poll time may raise and resolve its problem more than once.
    fn wait_all_resolved(&self, needle: &str, limit: Duration) -> Vec<(String, bool)> {
        let deadline = Instant::now() + limit;
        loop {
            let p = self.problems();
            let mine: Vec<_> = p.iter().filter(|(n, _)| n.contains(needle)).collect();
            if !mine.is_empty() && mine.iter().all(|(_, r)| *r) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "problems containing {needle:?} not all resolved in {limit:?}: {p:?}"
            );
            std::thread::sleep(Duration::from_secs(2));
        }
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
    let _alone = LINKED_HOSTS.write().unwrap_or_else(|e| e.into_inner());
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
    // 1 dump master + 11 states + 4 ephemeral + 6 CLOSE_WAIT + 1 queue max, 1 limits master +
    // 8 limits, 4 counters.
    assert_eq!(t["items"], "36", "{t}");
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

/// The host's Zabbix agent interface is zagent itself (loopback, host namespace): after
/// check-now, every item of the template and of its discovered listener prototypes is
/// supported and has a value (masters with history 0: supported, their dependents valued).
#[test]
fn health_template_every_item_supported_on_zagent() {
    let api = api();
    let (health, _) = templates(&api);
    let agent = util::start_zagent("Server=127.0.0.1\n");
    let host = Host::create(
        &api,
        "tmpl-health",
        "127.0.0.1",
        agent.port,
        &[&health],
        &FAST_MACROS,
    );
    std::thread::sleep(Duration::from_secs(3));
    let own = format!("127.0.0.1:{}", agent.port);
    let items = host.wait_items(
        "all items supported and valued",
        Duration::from_secs(120),
        |items| {
            let discovered = items
                .iter()
                .any(|i| i["key_"].as_str().unwrap().contains(&own));
            discovered
                && items.iter().all(|i| {
                    i["state"] == "0"
                        && i["error"] == ""
                        && (i["history"] == "0" || lastclock(i) > 0)
                })
        },
    );
    let unsupported: Vec<_> = items.iter().filter(|i| i["state"] != "0").collect();
    assert!(unsupported.is_empty(), "{unsupported:#?}");
    let protos = items.iter().filter(|i| i["flags"] == "4").count();
    assert!(
        protos >= 6,
        "the agent's own listener is discovered with its 6 prototypes: {protos}"
    );
    assert_eq!(items.len() - protos, 36);
    let v = |k: &str| -> f64 {
        let i = items
            .iter()
            .find(|i| i["key_"] == k)
            .unwrap_or_else(|| panic!("{k}"));
        i["lastvalue"].as_str().unwrap().parse().unwrap()
    };
    assert!(v("zagent.tcp.state[listen]") >= 1.0);
    assert!(v(&format!("zagent.tcp.listener.sockets[\"{own}\"]")) >= 1.0);
    assert!(v("zagent.tcp.limits.somaxconn") >= 1.0);
}

/// Short windows for the tests: 5 s polls, two-poll windows.
const FAST_MACROS: [(&str, &str); 11] = [
    ("{$ZAGENT.INTERVAL}", "5s"),
    ("{$ZAGENT.LIMITS.INTERVAL}", "10s"),
    ("{$TCP.ACCEPTQ.WINDOW}", "10s"),
    ("{$TCP.SYN_RECV.WINDOW}", "10s"),
    ("{$TCP.SYN_RECV.MAX}", "20"),
    ("{$TCP.EPHEMERAL.WINDOW}", "10s"),
    ("{$TCP.OVERFLOW.WINDOW}", "10s"),
    ("{$TCP.CLOSE_WAIT.WINDOW}", "15s"),
    ("{$TCP.CLOSE_WAIT.MIN}", "50"),
    ("{$TCP.LISTENER.DOWN.WINDOW}", "10s"),
    ("{$TCP.LLD.HEARTBEAT}", "1m"),
];

/// A network namespace `tmpl-<id>` joined to the host by a veth pair (10.231.x.y/30); a
/// `zagent run` inside it on the namespace end, polled by the lab server over the pair.
struct Scene {
    name: String,
    agent_ip: String,
    agent: Option<Proc>,
}

impl Scene {
    fn new() -> Scene {
        let mut rnd = [0u8; 2];
        getrandom::fill(&mut rnd).unwrap();
        let n = u16::from_ne_bytes(rnd) & 0x3fff; // a /30 in 10.231.0.0/16
        let (a, b) = (n >> 6, (n & 63) * 4);
        let name = format!("tmpl-{n:04x}");
        let (host_if, ns_if) = (format!("tmplh{n:04x}"), format!("tmpln{n:04x}"));
        let (host_ip, agent_ip) = (
            format!("10.231.{a}.{}", b + 1),
            format!("10.231.{a}.{}", b + 2),
        );
        sh(&["ip", "netns", "add", &name]);
        let scene = Scene {
            name: name.clone(),
            agent_ip: agent_ip.clone(),
            agent: None,
        };
        sh(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if, "netns", &name,
        ]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_if,
        ]);
        sh(&["ip", "link", "set", &host_if, "up"]);
        for c in [
            vec!["ip", "link", "set", "lo", "up"],
            vec![
                "ip",
                "addr",
                "add",
                &format!("{agent_ip}/30"),
                "dev",
                &ns_if,
            ],
            vec!["ip", "link", "set", &ns_if, "up"],
        ] {
            scene.exec(&c);
        }
        scene
    }

    fn exec(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts zagent in the namespace on agent_ip:10050 and waits until it answers.
    fn start_agent(&mut self, host_ip_allowed: &str) -> u16 {
        let dir = tempfile::Builder::new().prefix("tmpl-").tempdir().unwrap();
        let conf = dir.path().join("zagent.conf");
        std::fs::write(
            &conf,
            format!(
                "ListenIP={}\nListenPort=10050\nServer={host_ip_allowed}\nTimeout=10\n",
                self.agent_ip
            ),
        )
        .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, util::zagent_bin(), "run", "-c"])
            .arg(&conf)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("zagent.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        self.agent = Some(Proc {
            child,
            dir,
            port: 10050,
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((self.agent_ip.as_str(), 10050)).is_err() {
            assert!(
                Instant::now() < deadline,
                "zagent in {} does not listen",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        10050
    }

    fn host_ip(&self) -> String {
        let last: u8 = self.agent_ip.rsplit('.').next().unwrap().parse().unwrap();
        let pre = self.agent_ip.rsplit_once('.').unwrap().0;
        format!("{pre}.{}", last - 1)
    }

    /// Runs `f` on a thread inside the namespace: sockets it creates belong to it.
    fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn_in(f).join().unwrap()
    }

    /// Starts `f` on a thread inside the namespace and returns at once.
    fn spawn_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on a valid namespace fd; affects only this thread.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }

    /// A lab host for this scene's agent with the health template and fast macros.
    fn host<'a>(&mut self, api: &'a Api, name: &str, extra: &[(&str, &str)]) -> Host<'a> {
        let (health, _) = templates(api);
        let host_ip = self.host_ip();
        let port = self.start_agent(&host_ip);
        let mut macros: Vec<(&str, &str)> = FAST_MACROS.to_vec();
        for (m, v) in extra {
            macros.retain(|(k, _)| k != m);
            macros.push((m, v));
        }
        let ip = self.agent_ip.clone();
        Host::create(api, name, &ip, port, &[&health], &macros)
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.agent = None; // kills zagent's process group
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        // The pair goes with the namespace, asynchronously; make sure our end is gone.
        let host_if = self.name.replace("tmpl-", "tmplh");
        let _ = Command::new("ip")
            .args(["link", "del", &host_if])
            .stderr(Stdio::null())
            .status();
    }
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?}");
}

/// A listening socket with an explicit backlog (std always asks for 128).
fn listen(port: u16, backlog: i32) -> TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap();
    s.listen(backlog).unwrap();
    s.into()
}

/// Waits until the listener on 127.0.0.1:port is discovered and valued.
fn wait_listener(host: &Host, port: u16) {
    let key = format!("zagent.tcp.listener.sockets[\"127.0.0.1:{port}\"]");
    host.wait_items(
        &format!("{key} discovered"),
        Duration::from_secs(90),
        |items| {
            items
                .iter()
                .any(|i| i["key_"] == key.as_str() && lastclock(i) > 0)
        },
    );
}

/// Asserts that the host's problems, resolved or not, are exactly those containing `needle`.
fn assert_only(host: &Host, needle: &str) {
    let names: BTreeSet<String> = host.problems().into_iter().map(|(n, _)| n).collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains(needle)),
        "expected only problems containing {needle:?}, got {names:?}"
    );
}

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn scenario_accept_queue_full() {
    let api = api();
    let mut scene = Scene::new();
    let host = scene.host(&api, "tmpl-acceptq", &[]);
    // Backlog 8, never accepted: 8 completed handshakes fill the queue (100%, no overflow).
    let l = scene.run_in(|| listen(7001, 8));
    wait_listener(&host, 7001);
    let clients = scene.run_in(|| {
        (0..8)
            .map(|_| TcpStream::connect("127.0.0.1:7001").unwrap())
            .collect::<Vec<_>>()
    });
    host.wait_problem("Accept queue near full on port 7001", false, LIMIT);
    // Drain the queue: accept and close everything.
    l.set_nonblocking(true).unwrap();
    while let Ok((s, _)) = l.accept() {
        drop(s);
    }
    drop(clients);
    host.wait_problem("Accept queue near full on port 7001", true, LIMIT);
    assert_only(&host, "Accept queue near full on port 7001");
}

#[test]
fn scenario_syn_flood() {
    let api = api();
    let mut scene = Scene::new();
    let host = scene.host(&api, "tmpl-synflood", &[]);
    // A listener that never accepts, with TCP_DEFER_ACCEPT: handshakes whose last ACK
    // carries no data stay half-open (SYN_RECV) on the server side, as under a SYN flood.
    let l = scene.run_in(|| {
        let l = listen(7002, 128);
        util::set_defer_accept(&l, 3600);
        l
    });
    wait_listener(&host, 7002);
    let clients = scene.run_in(|| {
        (0..30)
            .map(|_| TcpStream::connect("127.0.0.1:7002").unwrap())
            .collect::<Vec<_>>()
    });
    host.wait_problem("SYN flood suspected on port 7002", false, LIMIT);
    drop(clients); // the clients' FIN/RST end the half-open connections
    host.wait_problem("SYN flood suspected on port 7002", true, LIMIT);
    drop(l);
    assert_only(&host, "SYN flood suspected on port 7002");
}

#[test]
fn scenario_listener_stops() {
    let api = api();
    let mut scene = Scene::new();
    let host = scene.host(&api, "tmpl-stop", &[]);
    let l = scene.run_in(|| listen(7005, 128));
    wait_listener(&host, 7005);
    drop(l);
    host.wait_problem("Port 7005 on 127.0.0.1 stopped listening", false, LIMIT);
    let l = scene.run_in(|| listen(7005, 128));
    host.wait_problem("Port 7005 on 127.0.0.1 stopped listening", true, LIMIT);
    drop(l);
    assert_only(&host, "Port 7005 on 127.0.0.1 stopped listening");
}

#[test]
fn scenario_close_wait_leak() {
    let api = api();
    let mut scene = Scene::new();
    let host = scene.host(&api, "tmpl-closewait", &[]);
    // A server on 7004 that accepts and never closes; 60 clients hang up.
    let l = scene.run_in(|| listen(7004, 128));
    let clients = scene.run_in(|| {
        (0..60)
            .map(|_| TcpStream::connect("127.0.0.1:7004").unwrap())
            .collect::<Vec<_>>()
    });
    let held: Vec<TcpStream> = (0..60).map(|_| l.accept().unwrap().0).collect();
    drop(clients);
    let p = host.wait_problem("CLOSE_WAIT leak on local port 7004", false, LIMIT);
    // It names the count and the user owning the sockets (the tests run as root).
    assert!(
        p.iter()
            .any(|(n, _)| n == "CLOSE_WAIT leak on local port 7004 (60 sockets, user root)"),
        "{p:?}"
    );
    drop(held);
    host.wait_problem("CLOSE_WAIT leak on local port 7004", true, LIMIT);
    drop(l);
    assert_only(&host, "CLOSE_WAIT leak on local port 7004");
}

#[test]
fn scenario_ephemeral_exhaustion_towards_one_destination() {
    let api = api();
    let mut scene = Scene::new();
    // Narrowed inside the namespace only: 22,000 ports. No TIME_WAIT reuse, so that each
    // closed connection keeps its port for the 60 s of TIME_WAIT.
    scene.exec(&[
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_local_port_range=40000 61999",
    ]);
    scene.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=0"]);
    let host = scene.host(&api, "tmpl-ephemeral", &[]);
    // 20,000 short connections to one destination, closed by the client first: each leaves
    // a TIME_WAIT socket on its ephemeral port (90.9% of the range), the classic way a
    // client runs out of ports. Only a few descriptors are open at any time. The client
    // binds its port itself (in order): the kernel's own choice scans past every port in
    // TIME_WAIT and gets so slow that the first ones would expire before the last.
    let l = scene.run_in(|| {
        let l = listen(7003, 4096);
        for port in 40_000..60_000u16 {
            let c =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            c.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
                .unwrap();
            c.connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, 7003)).into())
                .unwrap_or_else(|e| panic!("connect from port {port}: {e}"));
            let (s, _) = l.accept().unwrap();
            drop(c);
            drop(s);
        }
        l
    });
    let dest = "Ephemeral ports near exhaustion towards 127.0.0.1->127.0.0.1:7003";
    host.wait_problem(dest, false, LIMIT);
    // The condition goes away by itself: TIME_WAIT lasts 60 s.
    host.wait_problem(dest, true, LIMIT);
    assert_only(&host, dest);
    drop(l);
}

/// Reads a number from a /proc file inside the scene's namespace.
fn ns_number(scene: &Scene, path: &str) -> u64 {
    let text = scene.exec(&["cat", path]); // fails (with cat's message) when absent
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {text:?}: {e}"))
}

#[test]
fn scenario_listen_overflows() {
    let api = api();
    let mut scene = Scene::new();
    // The per-port trigger samples the queue at poll time; here the queue is full for at
    // most a few ms after each burst, so require 30 s of full polls before it may fire
    // (it must stay quiet: the overflows are the story, not a stuck queue).
    let host = scene.host(&api, "tmpl-overflow", &[("{$TCP.ACCEPTQ.WINDOW}", "30s")]);
    let l = scene.run_in(|| listen(7006, 2));
    wait_listener(&host, 7006);
    let overflows = || {
        let t = scene.exec(&["cat", "/proc/net/netstat"]);
        let mut lines = t.lines().filter(|l| l.starts_with("TcpExt:"));
        let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
        let i = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows")
            .unwrap();
        values
            .split_whitespace()
            .nth(i)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let before = overflows();
    // A service that drains its queue (backlog 2) every 20 ms, and clients that arrive in
    // bursts of 30 every 500 ms: each burst overflows the queue at once (the kernel drops
    // the SYNs past the backlog and counts ListenOverflows), and a poll almost always finds
    // the queue empty again, as when traffic spikes between polls.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s1, s2) = (stop.clone(), stop.clone());
    let server = scene.spawn_in(move || {
        l.set_nonblocking(true).unwrap();
        while !s1.load(std::sync::atomic::Ordering::Relaxed) {
            while let Ok((s, _)) = l.accept() {
                drop(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        l
    });
    let clients = scene.spawn_in(move || {
        let to: socket2::SockAddr = SocketAddr::from((Ipv4Addr::LOCALHOST, 7006)).into();
        // Bounded: at most 2 minutes of bursts.
        for _ in 0..240 {
            if s2.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            // Only the current burst is held (fewer than {$TCP.CLOSE_WAIT.MIN} sockets).
            let _burst: Vec<socket2::Socket> = (0..30)
                .map(|_| {
                    let c =
                        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                            .unwrap();
                    c.set_nonblocking(true).unwrap();
                    let _ = c.connect(&to); // EINPROGRESS; dropped SYNs are never answered
                    c
                })
                .collect();
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    host.wait_problem("Listen queue overflows", false, LIMIT);
    let during = overflows();
    assert!(
        during >= before + 30,
        "the bursts overflowed the queue: ListenOverflows {before} -> {during}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    clients.join().unwrap();
    let l = server.join().unwrap();
    host.wait_all_resolved("Listen queue overflows", LIMIT);
    assert_only(&host, "Listen queue overflows");
    drop(l);
}

#[test]
fn scenario_time_wait_near_tw_buckets() {
    let api = api();
    let mut scene = Scene::new();
    // tcp_max_tw_buckets is per network namespace: 1,000 here. No TIME_WAIT reuse, so that
    // every closed connection keeps its TIME_WAIT socket.
    scene.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_tw_buckets=1000"]);
    scene.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=0"]);
    let host = scene.host(&api, "tmpl-timewait", &[]);
    // 900 short connections closed by the client first: 900 TIME_WAIT sockets (90% of the
    // limit, over the template's 80%), plus whatever the agent's own polls leave.
    let l = scene.run_in(|| {
        let l = listen(7008, 1024);
        for _ in 0..900 {
            let c = TcpStream::connect("127.0.0.1:7008").unwrap();
            let (s, _) = l.accept().unwrap();
            drop(c);
            drop(s);
        }
        l
    });
    // The kernel's own count (sockstat "tw"): over 80% of the limit for real.
    let sockstat = scene.exec(&["cat", "/proc/net/sockstat"]);
    let tw: u64 = sockstat
        .split_whitespace()
        .skip_while(|w| *w != "tw")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("sockstat: {sockstat}"));
    assert!(tw >= 800, "TIME_WAIT sockets in the namespace: {tw}");
    let p = host.wait_problem("TIME_WAIT near tcp_max_tw_buckets", false, LIMIT);
    // The problem names the counts: "(N of 1000)" with N at least 80% of the limit.
    let name = &p
        .iter()
        .find(|(n, _)| n.contains("TIME_WAIT near"))
        .unwrap()
        .0;
    let n: u64 = name
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(" of 1000)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("problem names the counts: {name:?}"));
    assert!((800..=1000).contains(&n), "{name}");
    // Raising the limit removes the condition (the sockets stay for their 60 s).
    scene.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_tw_buckets=100000"]);
    host.wait_all_resolved("TIME_WAIT near tcp_max_tw_buckets", LIMIT);
    assert_only(&host, "TIME_WAIT near tcp_max_tw_buckets");
    drop(l);
}

/// Conntrack in the namespace: `nf_conntrack_max` is read-only outside the initial
/// namespace (there the file is mode 0444: `ip netns exec NS sysctl -w
/// net.netfilter.nf_conntrack_max=100` answers `sysctl: setting key
/// "net.netfilter.nf_conntrack_max": Invalid argument`, a shell redirect "Permission
/// denied"), so the table cannot be made small there, and shrinking the machine's would
/// hit everything else on it. The count is per namespace: the host's
/// `{$TCP.CONNTRACK.PCT.MAX}` is lowered to half of what 1,000 real entries make of the
/// machine's table, and those entries are created for real.
#[test]
fn scenario_conntrack_table_near_full() {
    let api = api();
    let mut scene = Scene::new();
    // Conntrack runs in a namespace only once a rule needs it: an nftables table with a
    // `ct state` rule turns it on. The agent's own traffic (port 10050) is left untracked
    // so that only the entries made below count.
    let rules = "table inet tmpl3 {
  chain pre { type filter hook prerouting priority raw; tcp dport 10050 notrack; tcp sport 10050 notrack; }
  chain out { type filter hook output priority raw; tcp dport 10050 notrack; tcp sport 10050 notrack; }
  chain track { type filter hook output priority 0; ct state new counter; }
}";
    let rules_file = tempfile::Builder::new().prefix("tmpl-").tempfile().unwrap();
    std::fs::write(rules_file.path(), rules).unwrap();
    scene.exec(&["nft", "-f", rules_file.path().to_str().unwrap()]);
    // Unanswered UDP entries expire 5 s after their last packet (then the kernel's
    // garbage collector removes them, within about 20 s more).
    scene.exec(&[
        "sysctl",
        "-q",
        "-w",
        "net.netfilter.nf_conntrack_udp_timeout=5",
    ]);
    let max = ns_number(&scene, "/proc/sys/net/netfilter/nf_conntrack_max");
    let entries = 1000u64.max(max / 2500); // at least 0.04% of the table
    let pct = |n: u64| (n as f64 * 10_000.0 / max as f64).round() / 100.0;
    let threshold = format!("{:.2}", (pct(entries) / 2.0 * 100.0).floor() / 100.0);
    let host = scene.host(
        &api,
        "tmpl-conntrack",
        &[
            ("{$TCP.CONNTRACK.PCT.MAX}", threshold.as_str()),
            ("{$TCP.CONNTRACK.WINDOW}", "10s"),
        ],
    );
    // One datagram to each of `entries` closed ports, repeated every 2 s while the test
    // waits: one conntrack entry per port, kept alive.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let sender = scene.spawn_in(move || {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..60 {
            if s.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            for i in 0..entries {
                let port = 20_000 + (i % 40_000) as u16;
                let _ = u.send_to(b"x", ("127.0.0.1", port)); // ICMP unreachable: fine
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    // The entries are real: the namespace's own count (bounded wait for the sender).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let count = ns_number(&scene, "/proc/sys/net/netfilter/nf_conntrack_count");
        if count >= entries {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "conntrack entries in the namespace: {count}, expected at least {entries}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    host.wait_problem("Conntrack table near full", false, LIMIT);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    host.wait_all_resolved("Conntrack table near full", LIMIT);
    assert_only(&host, "Conntrack table near full");
}

#[test]
fn scenario_close_wait_leak_on_upstream() {
    let api = api();
    let mut scene = Scene::new();
    let host = scene.host(&api, "tmpl-cwupstream", &[]);
    // The client side: 60 connections to an upstream on 7007 that closes each one; the
    // client never closes its end, so it holds 60 CLOSE_WAIT sockets towards the upstream
    // (each on its own local port: the per-port trigger has nothing to say).
    let (l, clients) = scene.run_in(|| {
        let l = listen(7007, 128);
        let clients: Vec<TcpStream> = (0..60)
            .map(|_| TcpStream::connect("127.0.0.1:7007").unwrap())
            .collect();
        for _ in 0..60 {
            drop(l.accept().unwrap().0);
        }
        (l, clients)
    });
    let up = "CLOSE_WAIT leak on upstream 127.0.0.1:7007";
    let p = host.wait_problem(up, false, LIMIT);
    assert!(
        p.iter()
            .any(|(n, _)| n == "CLOSE_WAIT leak on upstream 127.0.0.1:7007 (60 sockets, user root)"),
        "{p:?}"
    );
    drop(clients);
    host.wait_all_resolved(up, LIMIT);
    assert_only(&host, up);
    drop(l);
}
