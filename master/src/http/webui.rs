//! The web UI's routes, as upstream's master provides them from
//! `--webui_dir`: `/` (and `/master/`) serve `index.html`, `/app/…` and
//! `/assets/…` serve the files below `app/` and `assets/`, each with a
//! content type chosen by extension.
//!
//! Owns only reading files below the web UI directory. A path is checked
//! lexically (no `..`, no NUL, no empty name), then opened with
//! `openat2(RESOLVE_BENEATH)` relative to the subdirectory, so neither
//! `..` nor a symlink can reach anything outside it. A missing directory
//! or file is a 404, never a failure of the master.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libprocess::http::{header, HeaderValue, Method, StatusCode};
use libprocess::{Request, RequestExt};

use super::futures_response::ResponseFuture;
use super::{require_method, HttpContext, HttpError};

/// Files larger than this are refused (404): the UI's own assets are a
/// few megabytes, and a reply is read into memory whole.
const MAX_ASSET_BYTES: u64 = 64 * 1024 * 1024;

/// The content type upstream's libprocess picks for an extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "js" => "application/javascript",
        "css" => "text/css",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "eot" => "application/vnd.ms-fontobject",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The relative path below a web UI subdirectory, percent-decoded, or
/// `None` when it could name something outside it.
pub fn checked_relative(remaining: &str) -> Option<String> {
    let decoded = libprocess::routing::percent_decode(remaining)?;
    let mut parts = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            p if p.contains('\0') || p.contains('\\') => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Reads `relative` below `dir`, refusing anything that resolves outside
/// it, anything not a regular file, and anything too large.
fn read_beneath(dir: &Path, relative: &str) -> Option<Vec<u8>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let root = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let fd = rustix::fs::openat2(
        &root,
        relative,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_ASSET_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_ASSET_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Which part of the UI a route serves.
#[derive(Clone, Copy, Debug)]
pub enum Asset {
    /// `index.html` at the root.
    Index,
    /// A file below the named subdirectory (`app`, `assets`).
    Below(&'static str),
}

/// Serves one web UI route.
pub fn handle(context: Arc<HttpContext>, asset: Asset, request: Request) -> ResponseFuture {
    Box::pin(async move {
        if let Err(error) = require_method(&request, &[Method::GET, Method::HEAD], "GET") {
            return error.into_response();
        }
        let root = PathBuf::from(&context.flags.webui_dir);
        let (dir, relative) = match asset {
            Asset::Index => (root, "index.html".to_string()),
            Asset::Below(sub) => match checked_relative(request.remaining_path()) {
                Some(relative) => (root.join(sub), relative),
                None => return HttpError::NotFound.into_response(),
            },
        };
        let kind = content_type(&relative);
        let read = tokio::task::spawn_blocking(move || read_beneath(&dir, &relative)).await;
        match read {
            Ok(Some(bytes)) => {
                let mut response = libprocess::http::response(StatusCode::OK, bytes);
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
                response
            }
            _ => HttpError::NotFound.into_response(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_below_the_directory() {
        assert_eq!(checked_relative("/js/app.js").as_deref(), Some("js/app.js"));
        assert_eq!(checked_relative("css//x.css").as_deref(), Some("css/x.css"));
        assert_eq!(checked_relative("/a%20b.js").as_deref(), Some("a b.js"));
        assert_eq!(checked_relative("/%2e%2e/etc/passwd"), None);
        assert_eq!(checked_relative("/x/../../y"), None);
        assert_eq!(checked_relative("/x%00y"), None);
        assert_eq!(checked_relative(""), None);
        assert_eq!(checked_relative("/"), None);
    }

    #[test]
    fn symlinks_out_of_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"no").unwrap();
        std::fs::write(dir.path().join("ok.js"), b"yes").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(
            read_beneath(dir.path(), "ok.js").as_deref(),
            Some(&b"yes"[..])
        );
        assert_eq!(read_beneath(dir.path(), "link"), None);
        assert_eq!(read_beneath(dir.path(), "sub"), None);
        assert_eq!(read_beneath(dir.path(), "missing"), None);
        assert_eq!(read_beneath(&dir.path().join("nope"), "ok.js"), None);
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type("index.html"), "text/html");
        assert_eq!(content_type("js/app.JS"), "application/javascript");
        assert_eq!(content_type("css/x.css"), "text/css");
        assert_eq!(content_type("img/a.png"), "image/png");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
