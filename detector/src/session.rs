//! One ZooKeeper session as the contender and detector use it: connect
//! (retrying while ZooKeeper is unreachable), authenticate, and watch for
//! the session ending, either as ZooKeeper reports it or because we were
//! disconnected longer than the session timeout.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use tracing::{info, warn};
use zookeeper_client::{Acl, Acls, AuthId, Client, Permission, SessionState, StateWatcher};

use crate::{Error, ZkUrl};

/// Delay between attempts to reach an unreachable ZooKeeper.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// ZooKeeper expired the session.
    Expired,
    /// Disconnected for longer than the session timeout: ZooKeeper has
    /// certainly expired it, though the client only learns that after it
    /// reconnects.
    TimedOut,
    /// The session was closed.
    Closed,
    /// ZooKeeper refused our credentials.
    AuthFailed,
}

/// Connects, retrying forever while ZooKeeper is unreachable. Only errors
/// that no retry can fix are returned.
pub(crate) async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<Client, Error> {
    let mut attempt: u64 = 0;
    loop {
        let mut connector = Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(session_timeout.min(Duration::from_secs(2)))
            .with_fail_eagerly();
        if let Some((user, pass)) = &url.auth {
            connector = connector.with_auth("digest", format!("{user}:{pass}").as_bytes());
        }
        match connector.connect(&url.servers).await {
            Ok(client) => {
                info!(
                    "Connected to ZooKeeper {} (session {}, timeout {:?})",
                    url.servers,
                    client.session_id(),
                    client.session_timeout()
                );
                return Ok(client);
            }
            Err(zookeeper_client::Error::AuthFailed) => {
                return Err(Error::ZooKeeper(format!(
                    "ZooKeeper {} refused the credentials given in the URL",
                    url.servers
                )))
            }
            Err(zookeeper_client::Error::BadArguments(reason)) => {
                return Err(Error::InvalidUrl(format!(
                    "Bad ZooKeeper servers '{}': {reason}",
                    url.servers
                )))
            }
            Err(error) => {
                // Log the first failure and then every 30th, not each second.
                if attempt % 30 == 0 {
                    warn!(
                        "Failed to connect to ZooKeeper {}: {error}; retrying",
                        url.servers
                    );
                }
                attempt += 1;
                sleep(RETRY_INTERVAL).await;
            }
        }
    }
}

/// The ACL upstream's group gives the znodes it creates: open, or readable
/// by anyone and writable by the creator when credentials are given.
pub(crate) fn acl_for(url: &ZkUrl) -> Vec<Acl> {
    if url.auth.is_some() {
        vec![
            Acl::new(Permission::READ, AuthId::anyone()),
            Acl::new(Permission::ALL, AuthId::authed()),
        ]
    } else {
        vec![Acl::new(Permission::ALL, AuthId::anyone())]
    }
}

pub(crate) fn acls(acl: &[Acl]) -> Acls<'_> {
    Acls::new(acl)
}

/// Waits until the session ends. A disconnection lasting the session timeout
/// counts as the end (upstream's group does the same).
pub(crate) async fn ended(mut states: StateWatcher, session_timeout: Duration) -> SessionEnd {
    let mut disconnected_at: Option<Instant> = None;
    let mut state = states.peek_state();
    loop {
        match state {
            SessionState::Expired => return SessionEnd::Expired,
            SessionState::Closed => return SessionEnd::Closed,
            SessionState::AuthFailed => return SessionEnd::AuthFailed,
            SessionState::Disconnected => {
                let since = *disconnected_at.get_or_insert_with(Instant::now);
                tokio::select! {
                    next = states.changed() => state = next,
                    _ = tokio::time::sleep_until(since + session_timeout) => {
                        return SessionEnd::TimedOut;
                    }
                }
                continue;
            }
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
                disconnected_at = None;
            }
        }
        state = states.changed().await;
    }
}
