//! `POST /api/v1` (and any path below it but `/api/v1/executor`): the
//! agent's v1 Operator API (upstream `slave/http.cpp: Http::api`).
//!
//! Owns the request checks in upstream's order — 503 while the agent is
//! still recovering, 405 for non-POST, 400/415 for `Content-Type`, 400 for
//! bodies that do not parse or calls that fail validation, 406 for an
//! unacceptable `Accept` (none means JSON) — and the encoding of every
//! `v1.agent.Response`. State comes from the actor through typed queries,
//! files through [`crate::files::Files`]; nothing here holds agent state.
//!
//! The container calls (nested containers, sessions, attach, standalone
//! containers), the resource provider configuration calls and
//! PRUNE_IMAGES need a containerizer this agent does not have: they answer
//! 501 Not Implemented with the call's name, never 404, once authorized as
//! upstream authorizes them (a nested-container call on the executor and
//! framework that run the top-level container it descends from).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::media::{accepts_media_type, APPLICATION_RECORDIO};
use libprocess::{Body, Request, Response};
use mesos_proto::mesos::v1;
use mesos_proto::mesos::v1::agent::{call, response, Call, Response as AgentResponse};
use prost::Message as _;

use super::files::files_error_response;
use super::state::{container_status, system_metrics, usage};
use super::{error, reply, ContentType, HttpContext, APPLICATION_JSON, APPLICATION_PROTOBUF};
use crate::agent::Query;

const MESSAGE_CONTENT_TYPE: &str = "Message-Content-Type";
const MESSAGE_ACCEPT: &str = "Message-Accept";

fn shutting_down() -> Response {
    error(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "Agent is shutting down",
    )
}

pub async fn api(ctx: Arc<HttpContext>, request: Request) -> Response {
    match ctx.agent.query(Query::Recovering).await {
        None => return shutting_down(),
        Some(true) => {
            return error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Agent has not finished recovery",
            )
        }
        Some(false) => {}
    }
    if request.method() != http::Method::POST {
        let mut r = error(
            http::StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "Expecting one of {{ 'POST' }}, but received '{}'",
                request.method()
            ),
        );
        r.headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        return r;
    }
    let call = match decode_call(&request) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let kind = match validate(&call) {
        Ok(kind) => kind,
        Err(e) => {
            return error(
                http::StatusCode::BAD_REQUEST,
                format!("Failed to validate agent::Call: {e}"),
            )
        }
    };
    let accept = if accepts_media_type(request.headers(), APPLICATION_JSON) {
        ContentType::Json
    } else if accepts_media_type(request.headers(), APPLICATION_PROTOBUF) {
        ContentType::Protobuf
    } else if accepts_media_type(request.headers(), APPLICATION_RECORDIO) {
        return error(
            http::StatusCode::NOT_ACCEPTABLE,
            format!(
                "Streaming response is not supported for {} call",
                kind.as_str_name()
            ),
        );
    } else {
        return error(
            http::StatusCode::NOT_ACCEPTABLE,
            format!(
                "Expecting 'Accept' to allow {APPLICATION_JSON} or {APPLICATION_PROTOBUF} or {APPLICATION_RECORDIO}"
            ),
        );
    };
    if request.headers().contains_key(MESSAGE_ACCEPT) {
        return error(
            http::StatusCode::NOT_ACCEPTABLE,
            format!("Expecting '{MESSAGE_ACCEPT}' to be not set for non-streaming responses"),
        );
    }
    if let Some(refused) = authorize_call(&ctx, &request, kind, &call).await {
        return refused;
    }
    let file = call
        .list_files
        .as_ref()
        .map(|l| l.path.as_str())
        .or(call.read_file.as_ref().map(|r| r.path.as_str()));
    if let Some(refused) = file.and_then(|path| ctx.forbidden_path(&request, path)) {
        return refused;
    }
    match answer(&ctx, kind, call).await {
        Ok(Some(mut response)) => {
            filter_views(&ctx, &request, &mut response).await;
            encode(&response, accept)
        }
        Ok(None) => reply(http::StatusCode::OK, Body::empty(), None),
        Err(response) => response,
    }
}

/// The 403 for a call the principal may not make. Container calls are
/// checked before this agent answers that it has no containers (501), so
/// a refused principal learns nothing more than upstream would tell it.
async fn authorize_call(
    ctx: &HttpContext,
    request: &Request,
    kind: call::Type,
    call: &Call,
) -> Option<Response> {
    use call::Type as T;
    use mesos_authorizer::{Action, Object};
    if let Some(nested) = nested_call(kind, call) {
        if !ctx.authorizer.restricts(nested.action) {
            return None;
        }
        let executor = match parent_executor(ctx, nested.container).await {
            Ok(executor) => executor,
            Err(response) => return Some(response),
        };
        let object = nested_object(&nested, executor.as_ref().map(|(e, f)| (e, f)));
        return ctx.forbidden(request, nested.action, object);
    }
    let action = match kind {
        T::GetFlags => Action::ViewFlags,
        T::SetLoggingLevel => Action::SetLogLevel,
        T::LaunchContainer => Action::LaunchStandaloneContainer,
        T::WaitContainer => Action::WaitStandaloneContainer,
        T::KillContainer => Action::KillStandaloneContainer,
        T::RemoveContainer => Action::RemoveStandaloneContainer,
        T::AddResourceProviderConfig
        | T::UpdateResourceProviderConfig
        | T::RemoveResourceProviderConfig => Action::ModifyResourceProviderConfig,
        T::MarkResourceProviderGone => Action::MarkResourceProviderGone,
        T::PruneImages => Action::PruneImages,
        _ => return None,
    };
    ctx.forbidden(request, action, Object::Any)
}

/// A call on a nested container: the action it is authorized as, the
/// container and the command it would run.
#[derive(Debug)]
struct NestedCall<'a> {
    action: mesos_authorizer::Action,
    container: &'a v1::ContainerId,
    command: Option<&'a v1::CommandInfo>,
}

/// The nested-container calls, including the container calls naming a
/// parent (upstream authorizes those as the nested actions).
#[allow(deprecated)] // The nested-container calls are deprecated upstream, still valid.
fn nested_call(kind: call::Type, call: &Call) -> Option<NestedCall<'_>> {
    use call::Type as T;
    use mesos_authorizer::Action;
    fn nested<'a>(
        action: Action,
        container: &'a v1::ContainerId,
        command: Option<&'a v1::CommandInfo>,
    ) -> NestedCall<'a> {
        NestedCall {
            action,
            container,
            command,
        }
    }
    let has_parent = |c: &v1::ContainerId| c.parent.is_some();
    match kind {
        T::LaunchNestedContainer => call.launch_nested_container.as_ref().map(|c| {
            nested(
                Action::LaunchNestedContainer,
                &c.container_id,
                c.command.as_ref(),
            )
        }),
        T::LaunchNestedContainerSession => call.launch_nested_container_session.as_ref().map(|c| {
            nested(
                Action::LaunchNestedContainerSession,
                &c.container_id,
                c.command.as_ref(),
            )
        }),
        T::WaitNestedContainer => call
            .wait_nested_container
            .as_ref()
            .map(|c| nested(Action::WaitNestedContainer, &c.container_id, None)),
        T::KillNestedContainer => call
            .kill_nested_container
            .as_ref()
            .map(|c| nested(Action::KillNestedContainer, &c.container_id, None)),
        T::RemoveNestedContainer => call
            .remove_nested_container
            .as_ref()
            .map(|c| nested(Action::RemoveNestedContainer, &c.container_id, None)),
        T::AttachContainerInput => call
            .attach_container_input
            .as_ref()
            .and_then(|c| c.container_id.as_ref())
            .map(|c| nested(Action::AttachContainerInput, c, None)),
        T::AttachContainerOutput => call
            .attach_container_output
            .as_ref()
            .map(|c| nested(Action::AttachContainerOutput, &c.container_id, None)),
        T::LaunchContainer => call
            .launch_container
            .as_ref()
            .filter(|c| has_parent(&c.container_id))
            .map(|c| {
                nested(
                    Action::LaunchNestedContainer,
                    &c.container_id,
                    c.command.as_ref(),
                )
            }),
        T::WaitContainer => call
            .wait_container
            .as_ref()
            .filter(|c| has_parent(&c.container_id))
            .map(|c| nested(Action::WaitNestedContainer, &c.container_id, None)),
        T::KillContainer => call
            .kill_container
            .as_ref()
            .filter(|c| has_parent(&c.container_id))
            .map(|c| nested(Action::KillNestedContainer, &c.container_id, None)),
        T::RemoveContainer => call
            .remove_container
            .as_ref()
            .filter(|c| has_parent(&c.container_id))
            .map(|c| nested(Action::RemoveNestedContainer, &c.container_id, None)),
        _ => None,
    }
}

/// The executor (and its framework) running the top-level container
/// `container` descends from, when one does.
async fn parent_executor(
    ctx: &HttpContext,
    container: &v1::ContainerId,
) -> Result<Option<(v1::ExecutorInfo, v1::FrameworkInfo)>, Response> {
    let mut root = container;
    while let Some(parent) = root.parent.as_deref() {
        root = parent;
    }
    let entries = ask(ctx, Query::Containers).await?;
    let Some(entry) = entries.iter().find(|e| e.container_id == root.value) else {
        return Ok(None);
    };
    let executors = ask(ctx, Query::Executors).await?;
    let executor = executors
        .executors
        .into_iter()
        .map(|e| e.executor_info)
        .find(|e| {
            e.executor_id.value == entry.executor_id
                && e.framework_id
                    .as_ref()
                    .is_some_and(|f| f.value == entry.framework_id)
        });
    let frameworks = ask(ctx, Query::Frameworks).await?;
    let framework = frameworks
        .frameworks
        .into_iter()
        .map(|f| f.framework_info)
        .find(|f| {
            f.id.as_ref()
                .is_some_and(|id| id.value == entry.framework_id)
        });
    Ok(executor.zip(framework))
}

/// What a nested-container call is authorized on, as upstream's local
/// authorizer reads it: a launch by the user its command names (any
/// user when it names none or no executor runs the parent); the other
/// calls by the executor's user (its command's, else its framework's),
/// else by the container id.
fn nested_object<'a>(
    nested: &NestedCall<'a>,
    executor: Option<(&'a v1::ExecutorInfo, &'a v1::FrameworkInfo)>,
) -> mesos_authorizer::Object<'a> {
    use mesos_authorizer::{Action, Object};
    match nested.action {
        Action::LaunchNestedContainer | Action::LaunchNestedContainerSession => {
            match (executor, nested.command.and_then(|c| c.user.as_deref())) {
                (Some(_), Some(user)) => Object::Value(user),
                _ => Object::Any,
            }
        }
        _ => match executor {
            Some((executor, framework)) => Object::Executor(executor, framework),
            None => Object::Value(&nested.container.value),
        },
    }
}

/// The read answers without the frameworks (`view_frameworks`),
/// executors (`view_executors`) and tasks (`view_tasks`) the principal may
/// not see; an executor or task is judged with its framework, and hidden
/// when its framework is unknown.
async fn filter_views(ctx: &HttpContext, request: &Request, response: &mut AgentResponse) {
    use mesos_authorizer::{Action, Object};
    use response::{GetExecutors, GetFrameworks, GetTasks};
    let authorizer = &ctx.authorizer;
    if ![
        Action::ViewFramework,
        Action::ViewExecutor,
        Action::ViewTask,
        Action::ViewContainer,
    ]
    .iter()
    .any(|a| authorizer.restricts(*a))
    {
        return;
    }
    let who = super::principal(request);
    let listed = response.get_frameworks.clone().or_else(|| {
        response
            .get_state
            .as_ref()
            .and_then(|s| s.get_frameworks.clone())
    });
    let needs_frameworks = response.get_tasks.is_some()
        || response.get_executors.is_some()
        || response.get_containers.is_some();
    let frameworks = match listed {
        Some(listed) => Some(listed),
        None if needs_frameworks => ask(ctx, Query::Frameworks).await.ok(),
        None => None,
    };
    let known: std::collections::HashMap<String, v1::FrameworkInfo> = frameworks
        .iter()
        .flat_map(|f| f.frameworks.iter().chain(&f.completed_frameworks))
        .map(|f| {
            let id = f
                .framework_info
                .id
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default();
            (id, f.framework_info.clone())
        })
        .collect();
    let frameworks_of = |list: &mut GetFrameworks| {
        for list in [&mut list.frameworks, &mut list.completed_frameworks] {
            list.retain(|f| {
                authorizer.authorized(
                    Action::ViewFramework,
                    who,
                    Object::Framework(&f.framework_info),
                )
            });
        }
    };
    let executors_of = |list: &mut GetExecutors| {
        for list in [&mut list.executors, &mut list.completed_executors] {
            list.retain(|e| {
                let framework = e
                    .executor_info
                    .framework_id
                    .as_ref()
                    .and_then(|id| known.get(&id.value));
                framework.is_some_and(|fw| {
                    authorizer.authorized(
                        Action::ViewExecutor,
                        who,
                        Object::Executor(&e.executor_info, fw),
                    )
                })
            });
        }
    };
    let tasks_of = |list: &mut GetTasks| {
        for list in [
            &mut list.pending_tasks,
            &mut list.queued_tasks,
            &mut list.launched_tasks,
            &mut list.terminated_tasks,
            &mut list.completed_tasks,
        ] {
            list.retain(|t| {
                known.get(&t.framework_id.value).is_some_and(|fw| {
                    authorizer.authorized(Action::ViewTask, who, Object::Task(t, fw))
                })
            });
        }
    };
    if let Some(list) = response.get_containers.as_mut() {
        list.containers.retain(|c| {
            let framework = c.framework_id.as_ref().and_then(|id| known.get(&id.value));
            framework.is_some_and(|fw| {
                authorizer.authorized(Action::ViewContainer, who, Object::Value(&fw.user))
            })
        });
    }
    if let Some(list) = response.get_frameworks.as_mut() {
        frameworks_of(list);
    }
    if let Some(list) = response.get_executors.as_mut() {
        executors_of(list);
    }
    if let Some(list) = response.get_tasks.as_mut() {
        tasks_of(list);
    }
    if let Some(state) = response.get_state.as_mut() {
        if let Some(list) = state.get_frameworks.as_mut() {
            frameworks_of(list);
        }
        if let Some(list) = state.get_executors.as_mut() {
            executors_of(list);
        }
        if let Some(list) = state.get_tasks.as_mut() {
            tasks_of(list);
        }
    }
}

/// Reads the body per `Content-Type` (exact match, like upstream).
// The error is the finished response, built at most once per request.
#[allow(clippy::result_large_err)]
fn decode_call(request: &Request) -> Result<Call, Response> {
    let Some(content_type) = request.headers().get(http::header::CONTENT_TYPE) else {
        return Err(error(
            http::StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        ));
    };
    let content_type = content_type.to_str().unwrap_or("");
    if content_type == APPLICATION_RECORDIO {
        // Only ATTACH_CONTAINER_INPUT streams its request, and this agent
        // has no containers to attach to.
        return Err(error(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Streaming 'Content-Type' {APPLICATION_RECORDIO} is not supported: \
                 ATTACH_CONTAINER_INPUT is not implemented by this agent"
            ),
        ));
    }
    if content_type != APPLICATION_JSON && content_type != APPLICATION_PROTOBUF {
        return Err(error(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF} or {APPLICATION_RECORDIO}"
            ),
        ));
    }
    if request.headers().contains_key(MESSAGE_CONTENT_TYPE) {
        return Err(error(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting '{MESSAGE_CONTENT_TYPE}' to be not set for non-streaming requests"),
        ));
    }
    let body = request.body();
    if content_type == APPLICATION_PROTOBUF {
        // Like C++ `ParseFromString`, absent required fields fail the parse.
        mesos_proto::decode_checked::<Call>(body).map_err(|_| {
            error(
                http::StatusCode::BAD_REQUEST,
                "Failed to parse body into Call protobuf",
            )
        })
    } else {
        mesos_proto::json::decode::<Call>(body).map_err(|e| {
            let message = match e {
                mesos_proto::json::JsonError::Syntax(s) => {
                    format!("Failed to parse body into JSON: {s}")
                }
                other => format!("Failed to convert JSON into Call protobuf: {other}"),
            };
            error(http::StatusCode::BAD_REQUEST, message)
        })
    }
}

/// Upstream `validation::agent::call::validate`: a known type, and the
/// message the type names.
#[allow(deprecated)] // The nested-container calls are deprecated upstream, still valid.
pub fn validate(call: &Call) -> Result<call::Type, String> {
    // An unknown enum value is dropped by the decoder, so it reads as absent.
    let Some(kind) = call.r#type.and_then(|t| call::Type::try_from(t).ok()) else {
        return Err("Expecting 'type' to be present".into());
    };
    use call::Type as T;
    let present = match kind {
        T::SetLoggingLevel => call.set_logging_level.is_some(),
        T::ListFiles => call.list_files.is_some(),
        T::ReadFile => call.read_file.is_some(),
        T::LaunchNestedContainer => call.launch_nested_container.is_some(),
        T::WaitNestedContainer => call.wait_nested_container.is_some(),
        T::KillNestedContainer => call.kill_nested_container.is_some(),
        T::RemoveNestedContainer => call.remove_nested_container.is_some(),
        T::LaunchNestedContainerSession => call.launch_nested_container_session.is_some(),
        T::AttachContainerInput => call.attach_container_input.is_some(),
        T::AttachContainerOutput => call.attach_container_output.is_some(),
        T::LaunchContainer => call.launch_container.is_some(),
        T::WaitContainer => call.wait_container.is_some(),
        T::KillContainer => call.kill_container.is_some(),
        T::RemoveContainer => call.remove_container.is_some(),
        T::AddResourceProviderConfig => call.add_resource_provider_config.is_some(),
        T::UpdateResourceProviderConfig => call.update_resource_provider_config.is_some(),
        T::RemoveResourceProviderConfig => call.remove_resource_provider_config.is_some(),
        T::MarkResourceProviderGone => call.mark_resource_provider_gone.is_some(),
        T::PruneImages => call.prune_images.is_some(),
        _ => true,
    };
    if present {
        Ok(kind)
    } else {
        // The message's field name is the type's name in lower case.
        Err(format!(
            "Expecting '{}' to be present",
            kind.as_str_name().to_ascii_lowercase()
        ))
    }
}

fn response_of(kind: response::Type) -> AgentResponse {
    AgentResponse {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Asks the actor; a gone actor is the 503 of a shutting-down agent.
async fn ask<T>(
    ctx: &HttpContext,
    make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Query,
) -> Result<T, Response> {
    ctx.agent.query(make).await.ok_or_else(shutting_down)
}

/// The answer to a valid call: `Ok(None)` is a 200 with no body.
async fn answer(
    ctx: &HttpContext,
    kind: call::Type,
    call: Call,
) -> Result<Option<AgentResponse>, Response> {
    use call::Type as T;
    use response::Type as R;
    let answer = match kind {
        T::Unknown => return Err(error(http::StatusCode::NOT_IMPLEMENTED, "")),
        T::GetHealth => AgentResponse {
            get_health: Some(response::GetHealth { healthy: true }),
            ..response_of(R::GetHealth)
        },
        T::GetFlags => AgentResponse {
            get_flags: Some(response::GetFlags {
                flags: ctx
                    .flags
                    .iter()
                    .map(|(name, value)| v1::Flag {
                        name: name.clone(),
                        value: Some(value.clone()),
                    })
                    .collect(),
            }),
            ..response_of(R::GetFlags)
        },
        T::GetVersion => {
            let info = crate::info::build_info();
            AgentResponse {
                get_version: Some(response::GetVersion {
                    version_info: v1::VersionInfo {
                        version: info.version,
                        build_date: Some(info.build_date),
                        build_time: Some(info.build_time as f64),
                        build_user: Some(info.build_user),
                        git_sha: info.git_sha,
                        git_branch: info.git_branch,
                        git_tag: info.git_tag,
                    },
                }),
                ..response_of(R::GetVersion)
            }
        }
        T::GetMetrics => {
            let mut metrics = ask(ctx, Query::Metrics).await?;
            metrics.extend(
                tokio::task::spawn_blocking(system_metrics)
                    .await
                    .unwrap_or_default(),
            );
            AgentResponse {
                get_metrics: Some(response::GetMetrics {
                    metrics: metrics
                        .into_iter()
                        .map(|(name, value)| v1::Metric {
                            name,
                            value: Some(value),
                        })
                        .collect(),
                }),
                ..response_of(R::GetMetrics)
            }
        }
        T::GetLoggingLevel => AgentResponse {
            get_logging_level: Some(response::GetLoggingLevel {
                level: ctx.logging.level(),
            }),
            ..response_of(R::GetLoggingLevel)
        },
        T::SetLoggingLevel => {
            let set = call.set_logging_level.unwrap_or_default();
            let nanos = u64::try_from(set.duration.nanoseconds).unwrap_or(0);
            ctx.logging.set(set.level, Duration::from_nanos(nanos));
            return Ok(None);
        }
        T::ListFiles => {
            let path = call.list_files.unwrap_or_default().path;
            let files = ctx.files.clone();
            let listing = tokio::task::spawn_blocking(move || files.list(&path))
                .await
                .map_err(|e| error(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(files_error_response)?;
            AgentResponse {
                list_files: Some(response::ListFiles {
                    file_infos: listing
                        .into_iter()
                        .map(|e| v1::FileInfo {
                            path: e.path,
                            nlink: Some(i32::try_from(e.nlink).unwrap_or(i32::MAX)),
                            size: Some(e.size),
                            mtime: Some(v1::TimeInfo {
                                nanoseconds: (e.mtime * 1e9) as i64,
                            }),
                            mode: Some(e.mode),
                            uid: Some(e.uid),
                            gid: Some(e.gid),
                        })
                        .collect(),
                }),
                ..response_of(R::ListFiles)
            }
        }
        T::ReadFile => {
            let read = call.read_file.unwrap_or_default();
            let offset = i64::try_from(read.offset).map_err(|_| {
                error(
                    http::StatusCode::BAD_REQUEST,
                    format!("Offset {} is too large", read.offset),
                )
            })?;
            let length = read
                .length
                .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            let files = ctx.files.clone();
            let path = read.path;
            let (size, data) =
                tokio::task::spawn_blocking(move || files.read_file(&path, offset, length))
                    .await
                    .map_err(|e| error(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                    .map_err(files_error_response)?;
            AgentResponse {
                read_file: Some(response::ReadFile { size, data }),
                ..response_of(R::ReadFile)
            }
        }
        T::GetState => AgentResponse {
            get_state: Some(ask(ctx, Query::V1State).await?),
            ..response_of(R::GetState)
        },
        T::GetContainers => {
            let entries = ask(ctx, Query::Containers).await?;
            let containers = tokio::task::spawn_blocking(move || {
                entries
                    .iter()
                    .map(|e| response::get_containers::Container {
                        framework_id: Some(v1::FrameworkId {
                            value: e.framework_id.clone(),
                        }),
                        executor_id: Some(v1::ExecutorId {
                            value: e.executor_id.clone(),
                        }),
                        executor_name: Some(e.executor_name.clone()),
                        container_id: v1::ContainerId {
                            value: e.container_id.clone(),
                            parent: None,
                        },
                        container_status: Some(container_status(e)),
                        resource_statistics: Some(usage(e)),
                    })
                    .collect()
            })
            .await
            .unwrap_or_default();
            AgentResponse {
                get_containers: Some(response::GetContainers { containers }),
                ..response_of(R::GetContainers)
            }
        }
        T::GetFrameworks => AgentResponse {
            get_frameworks: Some(ask(ctx, Query::Frameworks).await?),
            ..response_of(R::GetFrameworks)
        },
        T::GetExecutors => AgentResponse {
            get_executors: Some(ask(ctx, Query::Executors).await?),
            ..response_of(R::GetExecutors)
        },
        // This agent applies no offer operations, so it tracks none.
        T::GetOperations => AgentResponse {
            get_operations: Some(response::GetOperations::default()),
            ..response_of(R::GetOperations)
        },
        T::GetTasks => AgentResponse {
            get_tasks: Some(ask(ctx, Query::Tasks).await?),
            ..response_of(R::GetTasks)
        },
        T::GetAgent => AgentResponse {
            get_agent: Some(ask(ctx, Query::AgentInfo).await?),
            ..response_of(R::GetAgent)
        },
        // No resource providers run on this agent.
        T::GetResourceProviders => AgentResponse {
            get_resource_providers: Some(response::GetResourceProviders::default()),
            ..response_of(R::GetResourceProviders)
        },
        T::LaunchNestedContainer
        | T::WaitNestedContainer
        | T::KillNestedContainer
        | T::RemoveNestedContainer
        | T::LaunchNestedContainerSession
        | T::AttachContainerInput
        | T::AttachContainerOutput
        | T::LaunchContainer
        | T::WaitContainer
        | T::KillContainer
        | T::RemoveContainer
        | T::AddResourceProviderConfig
        | T::UpdateResourceProviderConfig
        | T::RemoveResourceProviderConfig
        | T::MarkResourceProviderGone
        | T::PruneImages => {
            return Err(error(
                http::StatusCode::NOT_IMPLEMENTED,
                format!("{} is not supported by this agent", kind.as_str_name()),
            ))
        }
    };
    Ok(Some(answer))
}

fn encode(response: &AgentResponse, accept: ContentType) -> Response {
    let body = match accept {
        ContentType::Json => Bytes::from(mesos_proto::json::encode(response)),
        ContentType::Protobuf => Bytes::from(response.encode_to_vec()),
    };
    reply(http::StatusCode::OK, body, Some(accept.mime()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Input;
    use tokio::sync::mpsc;

    fn ctx() -> (Arc<HttpContext>, mpsc::UnboundedReceiver<Input>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let ctx = HttpContext {
            agent: super::super::AgentHandle { inbox: tx },
            files: Default::default(),
            flags: [("port".to_string(), "5051".to_string())].into(),
            logging: Default::default(),
            authorizer: Default::default(),
        };
        (Arc::new(ctx), rx)
    }

    /// Answers every `Recovering` query with `recovering`.
    fn actor(mut rx: mpsc::UnboundedReceiver<Input>, recovering: bool) {
        tokio::spawn(async move {
            while let Some(input) = rx.recv().await {
                if let Input::Query(Query::Recovering(tx)) = input {
                    let _ = tx.send(recovering);
                }
            }
        });
    }

    fn post(content_type: Option<&str>, accept: Option<&str>, body: &[u8]) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/api/v1");
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        if let Some(a) = accept {
            b = b.header("Accept", a);
        }
        b.body(Bytes::copy_from_slice(body)).unwrap()
    }

    async fn text(r: Response) -> String {
        String::from_utf8(r.into_body().collect_bytes().await.to_vec()).unwrap()
    }

    fn container(value: &str, parent: Option<&str>) -> v1::ContainerId {
        v1::ContainerId {
            value: value.to_string(),
            parent: parent.map(|p| Box::new(container(p, None))),
        }
    }

    #[test]
    #[allow(deprecated)]
    fn container_calls_naming_a_parent_are_nested_calls() {
        use mesos_authorizer::Action;
        let launch = |id: v1::ContainerId| Call {
            r#type: Some(call::Type::LaunchContainer as i32),
            launch_container: Some(call::LaunchContainer {
                container_id: id,
                ..Default::default()
            }),
            ..Default::default()
        };
        let nested = launch(container("c", Some("p")));
        assert_eq!(
            nested_call(call::Type::LaunchContainer, &nested).map(|n| n.action),
            Some(Action::LaunchNestedContainer)
        );
        let standalone = launch(container("c", None));
        assert!(nested_call(call::Type::LaunchContainer, &standalone).is_none());
        let kill = Call {
            r#type: Some(call::Type::KillNestedContainer as i32),
            kill_nested_container: Some(call::KillNestedContainer {
                container_id: container("c", Some("p")),
                ..Default::default()
            }),
            ..Default::default()
        };
        let n = nested_call(call::Type::KillNestedContainer, &kill).expect("nested");
        assert_eq!(n.action, Action::KillNestedContainer);
        assert_eq!(n.container.value, "c");
    }

    #[test]
    fn nested_container_calls_are_authorized_on_the_parent_executor() {
        use mesos_authorizer::{Acls, Action, Authorizer};
        let authorizer = Authorizer::new(Some(
            Acls::parse(
                r#"{"permissive": false,
                    "launch_nested_containers_as_user": [
                        {"principals": {"values": ["ops"]}, "users": {"values": ["alice"]}}],
                    "kill_nested_containers": [
                        {"principals": {"values": ["ops"]}, "users": {"values": ["fwuser"]}}]}"#,
            )
            .unwrap(),
        ));
        let framework = v1::FrameworkInfo {
            user: "fwuser".into(),
            ..Default::default()
        };
        let executor = v1::ExecutorInfo::default();
        let id = container("c", Some("p"));
        let command = |user: Option<&str>| v1::CommandInfo {
            user: user.map(str::to_string),
            ..Default::default()
        };
        let allowed = |action, command: Option<&v1::CommandInfo>, found: bool| {
            let nested = NestedCall {
                action,
                container: &id,
                command,
            };
            let object = nested_object(&nested, found.then_some((&executor, &framework)));
            authorizer.authorized(action, Some("ops"), object)
        };
        let alice = command(Some("alice"));
        let root = command(Some("root"));
        let nobody = command(None);
        // A launch is judged by the user its command names.
        assert!(allowed(Action::LaunchNestedContainer, Some(&alice), true));
        assert!(!allowed(Action::LaunchNestedContainer, Some(&root), true));
        // No user named, or no executor under the parent: any user, which
        // an ACL naming users does not grant.
        assert!(!allowed(Action::LaunchNestedContainer, Some(&nobody), true));
        assert!(!allowed(Action::LaunchNestedContainer, Some(&alice), false));
        // Kill (and wait, remove, attach): the executor's user.
        assert!(allowed(Action::KillNestedContainer, None, true));
        assert!(!allowed(Action::KillNestedContainer, None, false));
    }

    #[tokio::test]
    async fn refuses_bad_requests_with_upstream_codes() {
        let (ctx, rx) = ctx();
        actor(rx, false);
        let get = http::Request::builder()
            .method("GET")
            .uri("/api/v1")
            .body(Bytes::new())
            .unwrap();
        let r = api(ctx.clone(), get).await;
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[http::header::ALLOW], "POST");
        let health = br#"{"type":"GET_HEALTH"}"#;
        assert_eq!(
            api(ctx.clone(), post(None, None, health)).await.status(),
            400
        );
        assert_eq!(
            api(ctx.clone(), post(Some("text/plain"), None, health))
                .await
                .status(),
            415
        );
        let r = api(ctx.clone(), post(Some(APPLICATION_JSON), None, b"{nope")).await;
        assert_eq!(r.status(), 400);
        assert!(text(r).await.starts_with("Failed to parse body into JSON"));
        let r = api(ctx.clone(), post(Some(APPLICATION_JSON), None, b"{}")).await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            text(r).await,
            "Failed to validate agent::Call: Expecting 'type' to be present"
        );
        let r = api(
            ctx.clone(),
            post(Some(APPLICATION_JSON), None, br#"{"type":"READ_FILE"}"#),
        )
        .await;
        assert_eq!(
            text(r).await,
            "Failed to validate agent::Call: Expecting 'read_file' to be present"
        );
        let r = api(
            ctx.clone(),
            post(Some(APPLICATION_JSON), Some("text/html"), health),
        )
        .await;
        assert_eq!(r.status(), 406);
        let r = api(
            ctx.clone(),
            post(
                Some(APPLICATION_JSON),
                None,
                br#"{"type":"KILL_CONTAINER","kill_container":{"container_id":{"value":"c"}}}"#,
            ),
        )
        .await;
        assert_eq!(r.status(), 501);
        assert!(text(r).await.contains("KILL_CONTAINER"));
        let r = api(
            ctx,
            post(Some(APPLICATION_PROTOBUF), None, b"\xff\xff garbage"),
        )
        .await;
        assert_eq!(r.status(), 400);
    }

    #[tokio::test]
    async fn a_recovering_agent_answers_503() {
        let (ctx, rx) = ctx();
        actor(rx, true);
        let r = api(
            ctx,
            post(Some(APPLICATION_JSON), None, br#"{"type":"GET_HEALTH"}"#),
        )
        .await;
        assert_eq!(r.status(), 503);
        assert_eq!(text(r).await, "Agent has not finished recovery");
    }

    #[tokio::test]
    async fn answers_json_by_default_and_protobuf_when_asked() {
        let (ctx, rx) = ctx();
        actor(rx, false);
        let r = api(
            ctx.clone(),
            post(Some(APPLICATION_JSON), None, br#"{"type":"GET_FLAGS"}"#),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[http::header::CONTENT_TYPE], APPLICATION_JSON);
        let v: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
        assert_eq!(v["type"], "GET_FLAGS");
        assert_eq!(v["get_flags"]["flags"][0]["name"], "port");
        assert_eq!(v["get_flags"]["flags"][0]["value"], "5051");

        let call = Call {
            r#type: Some(call::Type::GetLoggingLevel as i32),
            ..Default::default()
        };
        let r = api(
            ctx.clone(),
            post(
                Some(APPLICATION_PROTOBUF),
                Some(APPLICATION_PROTOBUF),
                &call.encode_to_vec(),
            ),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()[http::header::CONTENT_TYPE],
            APPLICATION_PROTOBUF
        );
        let body = r.into_body().collect_bytes().await;
        let decoded = AgentResponse::decode(&body[..]).unwrap();
        assert_eq!(decoded.get_logging_level.unwrap().level, 0);

        let set = br#"{"type":"SET_LOGGING_LEVEL","set_logging_level":{"level":2,"duration":{"nanoseconds":60000000000}}}"#;
        let r = api(ctx.clone(), post(Some(APPLICATION_JSON), None, set)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(ctx.logging.level(), 2);
    }
}
