//! Test support: a minimal client of the Zabbix frontend's JSON-RPC API (`api_jsonrpc.php`),
//! used the way operators script it (configuration.import, host.create, task.create,
//! problem.get, item.get). HTTP/1.0 over a plain TCP stream to the lab's `php -S`; it must
//! not grow into a general HTTP client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

/// A logged-in API session.
pub struct Api {
    addr: String,
    token: String,
}

impl Api {
    /// Logs in as `user` on the frontend at `addr` (`host:port`).
    pub fn login(addr: &str, user: &str, password: &str) -> Result<Api, String> {
        let mut api = Api {
            addr: addr.to_string(),
            token: String::new(),
        };
        let token = api.call(
            "user.login",
            json!({"username": user, "password": password}),
        )?;
        api.token = token
            .as_str()
            .ok_or_else(|| format!("user.login answered {token}"))?
            .to_string();
        Ok(api)
    }

    /// One call; the `result`, or the API's `error` as text.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let mut req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        if !self.token.is_empty() && method != "apiinfo.version" && method != "user.login" {
            req["auth"] = json!(self.token);
        }
        let body = req.to_string();
        let mut s = TcpStream::connect(&self.addr)
            .map_err(|e| format!("{method}: connect {}: {e}", self.addr))?;
        s.set_read_timeout(Some(Duration::from_secs(120))).ok();
        write!(
            s,
            "POST /api_jsonrpc.php HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json-rpc\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .map_err(|e| format!("{method}: send: {e}"))?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply)
            .map_err(|e| format!("{method}: read: {e}"))?;
        let text = String::from_utf8_lossy(&reply);
        let json_part = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .ok_or_else(|| format!("{method}: no HTTP body in {text:?}"))?;
        let v: Value = serde_json::from_str(json_part)
            .map_err(|e| format!("{method}: not JSON ({e}): {json_part}"))?;
        if let Some(err) = v.get("error") {
            return Err(format!("{method}: {err}"));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| format!("{method}: no result in {v}"))
    }

    /// `configuration.import` of a YAML export with every create/update rule on.
    pub fn import_yaml(&self, source: &str) -> Result<Value, String> {
        let cu = json!({"createMissing": true, "updateExisting": true});
        let cud = json!({"createMissing": true, "updateExisting": true, "deleteMissing": true});
        self.call(
            "configuration.import",
            json!({"format": "yaml", "source": source, "rules": {
                "groups": {"createMissing": true},
                "templates": cu, "valueMaps": cu,
                "items": cud, "discoveryRules": cud, "triggers": cud, "graphs": cud,
                "templateDashboards": cud, "templateLinkage": {"createMissing": true}
            }}),
        )
    }

    /// The id (`<idfield>`) of the first object `<object>.get` returns for `filter`.
    pub fn id_of(&self, object: &str, idfield: &str, filter: Value) -> Result<String, String> {
        let r = self.call(
            &format!("{object}.get"),
            json!({"filter": filter, "output": [idfield]}),
        )?;
        r[0][idfield]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{object}.get {filter}: nothing found"))
    }

    /// Asks the server to poll these items now (`task.create`, type 6 "check now").
    pub fn check_now(&self, itemids: &[String]) -> Result<(), String> {
        let tasks: Vec<Value> = itemids
            .iter()
            .map(|id| json!({"type": 6, "request": {"itemid": id}}))
            .collect();
        self.call("task.create", Value::Array(tasks)).map(drop)
    }
}
