//! Shared by the `serve`, `replay`, `mock` and `python_client` tests: spawning `destkit` with
//! its stdout read line by line, and stopping it with a signal.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `destkit` child whose stdout lines arrive on a channel.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line seen so far.
    pub seen: Vec<String>,
}

/// What a stopped child left.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Spawn `destkit ARGS` with piped stdout and stderr.
pub fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_destkit"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("destkit starts");
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

impl Running {
    /// Wait for a stdout line containing `needle` and return it. Panics (with stderr) if the
    /// child ends first; the 60 s bound only turns a hang into a failure.
    pub fn wait_line(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let mut err = String::new();
                    if let Some(mut e) = self.child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!(
                        "destkit never printed {needle:?}; stdout so far: {:?}; stderr: {err}",
                        self.seen
                    );
                }
            }
        }
    }

    /// The `http://127.0.0.1:PORT` printed on the line containing `needle`.
    pub fn wait_url(&mut self, needle: &str) -> String {
        let line = self.wait_line(needle);
        let i = line.find("http://").expect("a URL on the line");
        line[i..]
            .split_whitespace()
            .next()
            .expect("URL")
            .to_string()
    }

    /// Send `signal` (`TERM`, `INT`) to the child.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{signal} failed");
    }

    /// Wait for the child to exit and collect what it printed.
    pub fn finish(mut self) -> Finished {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait().expect("destkit exits");
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        Finished {
            status,
            stdout: self.seen.join("\n"),
            stderr: err,
        }
    }

    /// SIGTERM, then [`Running::finish`].
    pub fn terminate(self) -> Finished {
        self.signal("TERM");
        self.finish()
    }
}

/// A webhook-style request body as events: one object, or an array of them.
pub fn events_of(body: &[u8]) -> Vec<serde_json::Value> {
    match serde_json::from_slice::<serde_json::Value>(body).expect("JSON body") {
        serde_json::Value::Array(a) => a,
        v => vec![v],
    }
}

/// Every event a wiremock server received, in order.
pub async fn received_events(server: &wiremock::MockServer) -> Vec<serde_json::Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .flat_map(|r| events_of(&r.body))
        .collect()
}

/// The messageIds of `events`, sorted.
pub fn ids(events: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .map(|e| e["messageId"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}
