//! Compiles `vendor-protos/` with protox (a Rust protobuf compiler, so no
//! `protoc` is needed on the build machine) and generates prost types.
//! The encoded descriptor set is kept in OUT_DIR: the JSON codec reads it at
//! run time through prost-reflect.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../vendor-protos");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect_protos(&root, &root, &mut files)?;
    files.sort();

    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("mesos_descriptor_set.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    prost_build::Config::new()
        .include_file("_includes.rs")
        .enable_type_names()
        // `DiskInfo` is most of a `Resource` (960 of 1,232 bytes) and is
        // set only on disk resources with a volume or source; inline, it
        // made every cpus/mem entry of every task, offer and allocation
        // carry it (hundreds of MB at 400,000 tasks).
        .boxed(".mesos.Resource.disk")
        .boxed(".mesos.v1.Resource.disk")
        // The deprecated single reservation (turned into `reservations` on
        // the way in), the provider and the range/set values are absent on
        // the scalar cpus/mem entries that make up most resources; inline
        // they cost every entry about 130 bytes.
        .boxed(".mesos.Resource.reservation")
        .boxed(".mesos.v1.Resource.reservation")
        .boxed(".mesos.Resource.provider_id")
        .boxed(".mesos.v1.Resource.provider_id")
        .boxed(".mesos.Resource.ranges")
        .boxed(".mesos.v1.Resource.ranges")
        .boxed(".mesos.Resource.set")
        .boxed(".mesos.v1.Resource.set")
        // Likewise most of a `Task` (1,048 of 1,368 bytes), rarely set.
        .boxed(".mesos.Task.container")
        .boxed(".mesos.Task.health_check")
        .boxed(".mesos.Task.discovery")
        .boxed(".mesos.v1.Task.container")
        .boxed(".mesos.v1.Task.health_check")
        .boxed(".mesos.v1.Task.discovery")
        .compile_fds(fds)?;
    Ok(())
}

fn collect_protos(
    root: &std::path::Path,
    dir: &std::path::Path,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    Ok(())
}
