//! `/files/*`: browsing and reading sandboxes through virtual paths
//! (upstream `src/files/files.cpp`): the four endpoints over
//! [`crate::files::Files`] — `browse` (`[{path,nlink,size,mtime,mode,uid,gid}]`),
//! `read` (`{offset,data}` with raw text data), `download` (the file as an
//! attachment) and `debug` (the table). Owns query parsing and the mapping
//! of [`FilesError`] to status codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use libprocess::{handler, Body, Request, RequestExt, Response, ServerBuilder};

use super::{error, json, reply, HttpContext};
pub use crate::files::{mode_string, FileEntry, Files, FilesError, Opened, MAX_READ_LENGTH};

/// The status code and message of a [`FilesError`].
pub fn files_error_response(e: FilesError) -> Response {
    match e {
        FilesError::Invalid(m) => error(http::StatusCode::BAD_REQUEST, m),
        FilesError::NotFound => error(http::StatusCode::NOT_FOUND, ""),
        FilesError::Unknown(m) => error(http::StatusCode::INTERNAL_SERVER_ERROR, m),
    }
}
#[allow(clippy::result_large_err)]
fn required_path(request: &Request) -> Result<String, Response> {
    match request.query_param("path") {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(error(
            http::StatusCode::BAD_REQUEST,
            "Expecting 'path=value' in query.\n",
        )),
    }
}

pub async fn browse(ctx: Arc<HttpContext>, request: Request) -> Response {
    let path = match required_path(&request) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(refused) = ctx.forbidden_path(&request, &path) {
        return refused;
    }
    let files = ctx.files.clone();
    let listing = tokio::task::spawn_blocking(move || files.browse(&path)).await;
    match listing {
        Ok(Ok(entries)) => json(
            &serde_json::Value::Array(entries),
            request.query_param("jsonp"),
        ),
        Ok(Err(e)) => files_error_response(e),
        Err(e) => error(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn read(ctx: Arc<HttpContext>, request: Request) -> Response {
    let path = match required_path(&request) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(refused) = ctx.forbidden_path(&request, &path) {
        return refused;
    }
    let mut offset = -1_i64;
    if let Some(text) = request.query_param("offset") {
        match text.trim().parse::<i64>() {
            Err(e) => {
                return error(
                    http::StatusCode::BAD_REQUEST,
                    format!("Failed to parse offset: {e}.\n"),
                )
            }
            Ok(v) if v < -1 => {
                return error(
                    http::StatusCode::BAD_REQUEST,
                    format!("Negative offset provided: {v}.\n"),
                )
            }
            Ok(v) => offset = v,
        }
    }
    let mut length = None;
    if let Some(text) = request.query_param("length") {
        match text.trim().parse::<i64>() {
            Err(e) => {
                return error(
                    http::StatusCode::BAD_REQUEST,
                    format!("Failed to parse length: {e}.\n"),
                )
            }
            Ok(v) if v < -1 => {
                return error(
                    http::StatusCode::BAD_REQUEST,
                    format!("Negative length provided: {v}.\n"),
                )
            }
            // `-1` (the web UI's first request) means "to the end".
            Ok(v) if v > -1 => length = Some(v as usize),
            Ok(_) => {}
        }
    }
    let files = ctx.files.clone();
    let result = tokio::task::spawn_blocking(move || files.read(&path, offset, length)).await;
    match result {
        Ok(Ok((offset, data))) => json(
            &serde_json::json!({
                "offset": offset,
                "data": String::from_utf8_lossy(&data),
            }),
            request.query_param("jsonp"),
        ),
        Ok(Err(e)) => files_error_response(e),
        Err(e) => error(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// MIME types by extension (upstream `mime::types`, the common part).
fn mime_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "log" | "text" | "conf" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "js" => "application/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "gz" | "tgz" => "application/x-gzip",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        "bz2" => "application/x-bzip2",
        "jar" => "application/java-archive",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

pub async fn download(ctx: Arc<HttpContext>, request: Request) -> Response {
    let path = match required_path(&request) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(refused) = ctx.forbidden_path(&request, &path) {
        return refused;
    }
    let files = ctx.files.clone();
    let lookup = path.clone();
    let opened = match tokio::task::spawn_blocking(move || files.open(&lookup)).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(FilesError::Invalid(m))) => {
            return error(http::StatusCode::BAD_REQUEST, format!("{m}.\n"))
        }
        Ok(Err(e)) => return files_error_response(e),
        Err(e) => return error(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if opened.is_dir {
        return error(
            http::StatusCode::BAD_REQUEST,
            "Cannot download a directory.\n",
        );
    }
    let real = PathBuf::from(&opened.name);
    let file = tokio::fs::File::from_std(opened.file);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut file = file;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let content_type = mime_type(&real).unwrap_or("application/octet-stream");
    let mut response = reply(
        http::StatusCode::OK,
        Body::finite_stream(rx),
        Some(content_type),
    );
    if let Ok(v) = http::HeaderValue::from_str(&format!("attachment; filename={name}")) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_DISPOSITION, v);
    }
    response
}

pub async fn debug(ctx: Arc<HttpContext>, request: Request) -> Response {
    let table: serde_json::Map<String, serde_json::Value> = ctx
        .files
        .table()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v.display().to_string())))
        .collect();
    json(
        &serde_json::Value::Object(table),
        request.query_param("jsonp"),
    )
}

pub fn routes(mut builder: ServerBuilder, ctx: Arc<HttpContext>) -> ServerBuilder {
    for suffix in ["", ".json"] {
        let c = ctx.clone();
        builder = builder.route(
            "files",
            &format!("/browse{suffix}"),
            handler(move |r| browse(c.clone(), r)),
        );
        let c = ctx.clone();
        builder = builder.route(
            "files",
            &format!("/read{suffix}"),
            handler(move |r| read(c.clone(), r)),
        );
        let c = ctx.clone();
        builder = builder.route(
            "files",
            &format!("/download{suffix}"),
            handler(move |r| download(c.clone(), r)),
        );
        let c = ctx.clone();
        builder = builder.route(
            "files",
            &format!("/debug{suffix}"),
            handler(move |r| debug(c.clone(), r)),
        );
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Files) {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("runs/c1");
        std::fs::create_dir_all(sandbox.join("sub")).unwrap();
        std::fs::write(sandbox.join("stdout"), "hello world").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), sandbox.join("escape")).unwrap();
        let files = Files::default();
        files.attach("/frameworks/F/executors/E/runs/latest", &sandbox);
        files.attach(&sandbox.display().to_string(), &sandbox);
        (dir, files)
    }

    #[test]
    fn resolves_virtual_and_real_paths() {
        let (dir, files) = setup();
        let real = dir.path().join("runs/c1").canonicalize().unwrap();
        assert_eq!(
            files
                .resolve("/frameworks/F/executors/E/runs/latest/")
                .unwrap(),
            real
        );
        assert_eq!(
            files
                .resolve("frameworks/F/executors/E/runs/latest/stdout")
                .unwrap(),
            real.join("stdout")
        );
        assert_eq!(
            files
                .resolve(&format!("{}/stdout", dir.path().join("runs/c1").display()))
                .unwrap(),
            real.join("stdout")
        );
        assert_eq!(
            files.resolve("/frameworks/F/executors/E/runs/latest/nope"),
            Err(FilesError::NotFound)
        );
        assert_eq!(files.resolve("/unknown"), Err(FilesError::NotFound));
        assert!(matches!(
            files.resolve("/frameworks/F/executors/E/runs/latest/../../x"),
            Err(FilesError::Invalid(_))
        ));
        assert!(matches!(
            files.resolve("/frameworks/F/executors/E/runs/latest/escape"),
            Err(FilesError::Invalid(_))
        ));
    }

    #[test]
    fn browse_lists_entries_with_names_and_modes() {
        let (_dir, files) = setup();
        let entries = files
            .browse("/frameworks/F/executors/E/runs/latest")
            .unwrap();
        let paths: Vec<&str> = entries
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        // `escape` points at a regular file and is listed like stat(2) sees it.
        assert_eq!(
            paths,
            vec![
                "/frameworks/F/executors/E/runs/latest/escape",
                "/frameworks/F/executors/E/runs/latest/stdout",
                "/frameworks/F/executors/E/runs/latest/sub",
            ]
        );
        let stdout = &entries[1];
        assert_eq!(stdout["size"], 11);
        assert_eq!(stdout["nlink"], 1);
        assert!(stdout["mode"].as_str().unwrap().starts_with('-'));
        assert!(entries[2]["mode"].as_str().unwrap().starts_with('d'));
        assert!(stdout["uid"].is_string());
        assert!(stdout["gid"].is_string());
        assert!(stdout["mtime"].as_f64().unwrap() > 0.0);
        assert!(files
            .browse("/frameworks/F/executors/E/runs/latest/stdout")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn read_follows_offset_and_length_rules() {
        let (_dir, files) = setup();
        let p = "/frameworks/F/executors/E/runs/latest/stdout";
        assert_eq!(files.read(p, -1, None).unwrap(), (11, vec![]));
        assert_eq!(
            files.read(p, 0, None).unwrap(),
            (0, b"hello world".to_vec())
        );
        assert_eq!(files.read(p, 6, Some(3)).unwrap(), (6, b"wor".to_vec()));
        assert_eq!(files.read(p, 50, None).unwrap(), (11, vec![]));
        assert_eq!(files.read(p, 0, Some(0)).unwrap(), (11, vec![]));
        assert!(matches!(
            files.read("/frameworks/F/executors/E/runs/latest", 0, None),
            Err(FilesError::Invalid(_))
        ));
    }

    #[test]
    fn reads_are_capped_at_sixteen_pages() {
        let (dir, files) = setup();
        std::fs::write(
            dir.path().join("runs/c1/big"),
            vec![b'x'; MAX_READ_LENGTH * 2],
        )
        .unwrap();
        let (_, data) = files
            .read("/frameworks/F/executors/E/runs/latest/big", 0, None)
            .unwrap();
        assert_eq!(data.len(), MAX_READ_LENGTH);
    }

    #[test]
    fn symlinks_out_of_the_sandbox_are_never_followed() {
        let (_dir, files) = setup();
        let err = files
            .read("/frameworks/F/executors/E/runs/latest/escape", 0, None)
            .unwrap_err();
        assert!(matches!(err, FilesError::Invalid(_)), "{err:?}");
        assert!(files
            .open("/frameworks/F/executors/E/runs/latest/escape")
            .is_err());
    }

    #[test]
    fn fifos_are_refused_without_blocking() {
        let (dir, files) = setup();
        let fifo = dir.path().join("runs/c1/pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // No writer exists: a blocking open or read would hang this test.
        let err = files
            .read("/frameworks/F/executors/E/runs/latest/pipe", 0, None)
            .unwrap_err();
        assert!(
            matches!(&err, FilesError::Invalid(m) if m.contains("not a regular file")),
            "{err:?}"
        );
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_never_leaks_outside_files() {
        // A task flips `sub` between a directory and a symlink to a
        // directory outside the sandbox while reads race it.
        let (dir, files) = setup();
        let sandbox = dir.path().join("runs/c1");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), "SECRET").unwrap();
        std::fs::write(sandbox.join("sub/f"), "inside").unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let (sandbox, outside, stop) = (sandbox.clone(), outside.clone(), stop.clone());
            std::thread::spawn(move || {
                let (real, link) = (sandbox.join("sub.real"), sandbox.join("sub.link"));
                std::os::unix::fs::symlink(&outside, &link).unwrap();
                std::fs::rename(sandbox.join("sub"), &real).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::rename(&link, sandbox.join("sub"));
                    let _ = std::fs::rename(sandbox.join("sub"), &link);
                    let _ = std::fs::rename(&real, sandbox.join("sub"));
                    let _ = std::fs::rename(sandbox.join("sub"), &real);
                }
            })
        };
        let mut inside = 0;
        for _ in 0..20_000 {
            if let Ok((_, data)) =
                files.read("/frameworks/F/executors/E/runs/latest/sub/f", 0, None)
            {
                assert_ne!(data, b"SECRET", "served a file outside the sandbox");
                inside += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        flipper.join().unwrap();
        eprintln!("{inside} of 20000 racing reads served the inside file, none the outside one");
        // Reads that all failed would prove nothing about the race.
        assert!(inside > 0, "no racing read was served at all");
        // The link really leads outside: an unguarded open follows it
        // (each flip ends with the link back at `sub.link`).
        let escaped = std::fs::read(sandbox.join("sub.link/f"));
        assert_eq!(escaped.unwrap(), b"SECRET");
    }

    #[test]
    fn without_openat2_no_symlink_is_followed_at_all() {
        let (dir, _files) = setup();
        let sandbox = dir.path().join("runs/c1");
        std::os::unix::fs::symlink(dir.path(), sandbox.join("up")).unwrap();
        let root = std::fs::File::open(&sandbox).unwrap().into();
        let open = |p: &str| crate::files::open_without_links(&root, p);
        assert!(open("stdout").is_ok());
        assert!(open("sub").is_ok());
        assert!(open("").is_ok());
        assert_eq!(open("escape").err(), Some(rustix::io::Errno::LOOP));
        assert_eq!(open("up/secret").err(), Some(rustix::io::Errno::NOTDIR));
        assert_eq!(open("sub/../stdout").err(), Some(rustix::io::Errno::XDEV));
    }

    #[test]
    fn modes_print_like_ls() {
        assert_eq!(mode_string(0o644, false, false), "-rw-r--r--");
        assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
    }

    fn ctx(files: Files) -> Arc<HttpContext> {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(HttpContext {
            agent: super::super::AgentHandle { inbox: tx },
            files,
            flags: Default::default(),
            logging: Default::default(),
            authorizer: Default::default(),
        })
    }

    fn get(uri: &str) -> Request {
        http::Request::builder()
            .uri(uri)
            .body(Bytes::new())
            .unwrap()
    }

    async fn body(r: Response) -> String {
        String::from_utf8(r.into_body().collect_bytes().await.to_vec()).unwrap()
    }

    async fn parsed(r: Response) -> serde_json::Value {
        serde_json::from_str(&body(r).await).unwrap()
    }

    #[tokio::test]
    async fn endpoints_answer_with_upstream_codes() {
        let (_dir, files) = setup();
        let ctx = ctx(files);
        assert_eq!(
            browse(ctx.clone(), get("/files/browse")).await.status(),
            400
        );
        assert_eq!(
            browse(ctx.clone(), get("/files/browse?path=/nope"))
                .await
                .status(),
            404
        );
        let r = browse(
            ctx.clone(),
            get("/files/browse?path=/frameworks/F/executors/E/runs/latest"),
        )
        .await;
        assert_eq!(r.status(), 200);

        let r = read(
            ctx.clone(),
            get("/files/read?path=/frameworks/F/executors/E/runs/latest/stdout&offset=0&length=5"),
        )
        .await;
        assert_eq!(
            parsed(r).await,
            serde_json::json!({"offset": 0, "data": "hello"})
        );
        let r = read(
            ctx.clone(),
            get("/files/read?path=/frameworks/F/executors/E/runs/latest/stdout&offset=-1"),
        )
        .await;
        assert_eq!(
            parsed(r).await,
            serde_json::json!({"offset": 11, "data": ""})
        );
        let r = read(
            ctx.clone(),
            get("/files/read?path=/frameworks/F/executors/E/runs/latest/stdout&offset=-2"),
        )
        .await;
        assert_eq!(r.status(), 400);
        let r = read(
            ctx.clone(),
            get("/files/read?path=/frameworks/F/executors/E/runs/latest/stdout&length=-1&offset=0"),
        )
        .await;
        assert_eq!(
            parsed(r).await,
            serde_json::json!({"offset": 0, "data": "hello world"})
        );
        let r = read(
            ctx.clone(),
            get("/files/read?path=/frameworks/F/executors/E/runs/latest/stdout&offset=x"),
        )
        .await;
        assert_eq!(r.status(), 400);

        let r = download(
            ctx.clone(),
            get("/files/download?path=/frameworks/F/executors/E/runs/latest/stdout"),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()[http::header::CONTENT_DISPOSITION],
            "attachment; filename=stdout"
        );
        assert_eq!(
            r.headers()[http::header::CONTENT_TYPE],
            "application/octet-stream"
        );
        assert_eq!(body(r).await, "hello world");
        let r = download(
            ctx.clone(),
            get("/files/download?path=/frameworks/F/executors/E/runs/latest"),
        )
        .await;
        assert_eq!(r.status(), 400);

        let r = debug(ctx.clone(), get("/files/debug")).await;
        assert!(body(r)
            .await
            .contains("/frameworks/F/executors/E/runs/latest"));
    }
}
