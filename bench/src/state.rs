//! `mesos-bench state`: how fast a master serves its whole state, and how
//! a cheap call fares meanwhile.
//!
//! `--clients` background pollers fetch `/master/state` in a loop (the load
//! dashboards and exporters put on a master); meanwhile the bench times
//! `/master/state`, v1 GET_STATE in JSON and in protobuf, and `/health`
//! every 10 ms. Owns only its HTTP clients.

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
}

const GET_STATE_JSON: &str = r#"{"type":"GET_STATE"}"#;

/// Milliseconds of one request; an error unless it answered 200.
async fn timed(
    client: &Client,
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<(f64, usize), String> {
    let start = Instant::now();
    let (status, body) = client.send(method, addr, path, headers, body).await?;
    if status != 200 {
        return Err(format!("{method} {path} answered {status}"));
    }
    Ok((start.elapsed().as_secs_f64() * 1000.0, body.len()))
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
    for _ in 0..args.samples {
        let (ms, bytes) = timed(&client, "GET", addr, "/master/state", &[], Bytes::new()).await?;
        state.push(ms);
        state_bytes = bytes;
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
        json_bytes = bytes;
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
        protobuf_bytes = bytes;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut health = health.await.map_err(|e| format!("health sampler: {e}"))?;
    for poller in pollers {
        poller.abort();
    }
    let polls = polls.load(Ordering::Relaxed);
    println!(
        "state_bytes={state_bytes} get_state_json_bytes={json_bytes} get_state_protobuf_bytes={protobuf_bytes} \
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
