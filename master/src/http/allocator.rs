//! `/master/allocator/explain`: read-only JSON of why frameworks got (or
//! did not get) offers in the last allocation cycles, per framework and
//! role, with counts. The data is the allocator's ([`Explain`]); this module
//! only renders it. It never changes allocator state.

use std::sync::Arc;
use std::time::Instant;

use libprocess::http::Method;
use libprocess::Request;
use mesos_proto::legacy_json::number as json_number;
use serde_json::{json, Map, Value};

use super::futures_response::ResponseFuture;
use super::{json_response, require_method, HttpContext, HttpError};
use crate::allocator::{Explain, Reason};
use crate::master::allocator_now;

/// GET `/master/allocator/explain`.
pub fn explain(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        if let Err(error) = require_method(&request, &[Method::GET, Method::HEAD], "GET") {
            return error.into_response();
        }
        match context.master.allocator_explain().await {
            Some(explain) => json_response(&request, &render(&explain, allocator_now())),
            None => {
                HttpError::ServiceUnavailable("Master is shutting down".to_string()).into_response()
            }
        }
    })
}

fn counts(counts: &std::collections::BTreeMap<Reason, u64>) -> Value {
    Value::Object(
        counts
            .iter()
            .map(|(reason, count)| (reason.name().to_string(), json!(count)))
            .collect(),
    )
}

/// The JSON form; `filtered_for_seconds` is relative to `now`.
pub fn render(explain: &Explain, now: Instant) -> Value {
    let frameworks: Vec<Value> = explain
        .frameworks
        .iter()
        .map(|(id, framework)| {
            let roles: Vec<Value> = framework
                .roles
                .iter()
                .map(|(role, r)| {
                    let mut object = Map::new();
                    object.insert("role".into(), json!(role.as_str()));
                    object.insert("offers_last_cycle".into(), json!(r.offers_last_cycle));
                    object.insert("offers_total".into(), json!(r.offers_total));
                    object.insert("suppressed".into(), json!(r.suppressed));
                    object.insert("filtered_agents".into(), json!(r.filtered_agents));
                    if let Some(until) = r.filtered_until {
                        let left = until.saturating_duration_since(now).as_secs_f64();
                        object.insert("filtered_for_seconds".into(), json_number(left));
                    }
                    object.insert("quota_limit_reached".into(), json!(r.quota_limit_reached));
                    object.insert("framework_share".into(), json_number(r.framework_share));
                    object.insert("role_share".into(), json_number(r.role_share));
                    object.insert("not_offered_last_cycle".into(), counts(&r.last_cycle));
                    object.insert("not_offered_total".into(), counts(&r.totals));
                    Value::Object(object)
                })
                .collect();
            json!({
                "framework_id": id.as_str(),
                "active": framework.active,
                "roles": roles,
            })
        })
        .collect();
    json!({
        "cycles": explain.cycles,
        "last_cycle_agents": explain.last_cycle_agents,
        "last_cycle_offers": explain.last_cycle_offers,
        "deactivated_agents": explain.deactivated_agents,
        "draining_agents": explain.draining_agents,
        "frameworks": frameworks,
    })
}
