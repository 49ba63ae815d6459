//! `mesos-bench state`: how fast a master serves its whole state, and how
//! a cheap call fares meanwhile.
//!
//! `--clients` background pollers fetch `/master/state` in a loop (the load
//! dashboards and exporters put on a master); meanwhile the bench times
//! `/master/state`, v1 GET_STATE in JSON and in protobuf, and `/health`
//! every 10 ms. Owns only its HTTP clients.
//!
//! It measures a master that leads and shows the agents it expects
//! (`--agents`): a master still recovering serves the state it has, with
//! no agents (as upstream's does), and one whose agents have not all
//! re-registered yet a smaller one. The output names the agents of the
//! last body, so a measurement of the wrong state cannot pass unseen.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;

use crate::http::Client;
use crate::percentile;

#[derive(Parser, Debug)]
pub struct StateArgs {
    /// The master, `host:port`.
    #[arg(long)]
    master: String,
    /// Background clients polling `/master/state`.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Timed requests of each kind.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Agents `/master/state` must list (registered and active) before
    /// the measurement starts.
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// How long to wait for the master to lead and list `--agents`.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// The agents a `/master/state` body lists as active.
fn active_agents(body: &[u8]) -> Option<usize> {
    let state: serde_json::Value = serde_json::from_slice(body).ok()?;
    let slaves = state.get("slaves")?.as_array()?;
    Some(
        slaves
            .iter()
            .filter(|s| s.get("active").and_then(serde_json::Value::as_bool) == Some(true))
            .count(),
    )
}

/// Waits until the master's `/master/state` lists at least `agents`
/// active agents.
async fn wait_until_serving(
    client: &Client,
    addr: SocketAddr,
    agents: usize,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match client
            .send("GET", addr, "/master/state", &[], Bytes::new())
            .await
        {
            Ok((200, body)) => match active_agents(&body) {
                Some(n) if n >= agents => return Ok(()),
                n => last = format!("{} of {agents} agents", n.unwrap_or(0)),
            },
            Ok((status, body)) => {
                last = format!("{status} {}", String::from_utf8_lossy(&body));
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "the master at {addr} did not serve its state in time ({last})"
    ))
}

const GET_STATE_JSON: &str = r#"{"type":"GET_STATE"}"#;

/// Milliseconds of one request and its body; an error unless it answered
/// 200.
async fn timed(
    client: &Client,
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<(f64, Bytes), String> {
    let start = Instant::now();
    let (status, body) = client.send(method, addr, path, headers, body).await?;
    if status != 200 {
        return Err(format!("{method} {path} answered {status}"));
    }
    Ok((start.elapsed().as_secs_f64() * 1000.0, body))
}

fn line(name: &str, samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    format!(
        "{name}_ms_p50={:.1} {name}_ms_p99={:.1}",
        percentile(samples, 50.0),
        percentile(samples, 99.0)
    )
}

pub async fn run(args: StateArgs) -> Result<(), String> {
    let addr: SocketAddr = args
        .master
        .parse()
        .map_err(|e| format!("Invalid --master '{}': {e}", args.master))?;
    let timeout = Duration::from_secs(args.timeout_secs);
    crate::sim_agents::wait_until_leading(addr, timeout).await?;
    wait_until_serving(&Client::new(), addr, args.agents, timeout).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let mut pollers = Vec::new();
    for _ in 0..args.clients {
        let (stop, polls) = (stop.clone(), polls.clone());
        pollers.push(tokio::spawn(async move {
            let client = Client::new();
            while !stop.load(Ordering::Relaxed) {
                if client
                    .send("GET", addr, "/master/state", &[], Bytes::new())
                    .await
                    .is_ok()
                {
                    polls.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let health = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = Client::new();
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok((ms, _)) = timed(&client, "GET", addr, "/health", &[], Bytes::new()).await
                {
                    samples.push(ms);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples
        })
    };

    let client = Client::new();
    let started = Instant::now();
    let (mut state, mut json, mut protobuf) = (Vec::new(), Vec::new(), Vec::new());
    let (mut state_bytes, mut json_bytes, mut protobuf_bytes) = (0, 0, 0);
    let mut state_agents = 0;
    for _ in 0..args.samples {
        let (ms, body) = timed(&client, "GET", addr, "/master/state", &[], Bytes::new()).await?;
        state.push(ms);
        state_bytes = body.len();
        state_agents = active_agents(&body).unwrap_or(0);
        let (ms, bytes) = timed(
            &client,
            "POST",
            addr,
            "/api/v1",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            Bytes::from_static(GET_STATE_JSON.as_bytes()),
        )
        .await?;
        json.push(ms);
        json_bytes = bytes.len();
        let (ms, bytes) = timed(
            &client,
            "POST",
            addr,
            "/api/v1",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/x-protobuf"),
            ],
            Bytes::from_static(GET_STATE_JSON.as_bytes()),
        )
        .await?;
        protobuf.push(ms);
        protobuf_bytes = bytes.len();
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut health = health.await.map_err(|e| format!("health sampler: {e}"))?;
    for poller in pollers {
        poller.abort();
    }
    let polls = polls.load(Ordering::Relaxed);
    println!(
        "state_agents={state_agents} state_bytes={state_bytes} get_state_json_bytes={json_bytes} get_state_protobuf_bytes={protobuf_bytes} \
         background_polls={polls} ({:.1}/s)",
        polls as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{} {} {} {}",
        line("state", &mut state),
        line("get_state_json", &mut json),
        line("get_state_protobuf", &mut protobuf),
        line("health", &mut health)
    );
    Ok(())
}
