//! `libmesos.so` for JVM frameworks: the JNI natives of the `mesos` jar's
//! `org.apache.mesos.*` classes, loaded through `MESOS_NATIVE_JAVA_LIBRARY`.
//!
//! This crate only marshals: Java protobuf objects cross as bytes
//! (`toByteArray` / `parseFrom`), collections are walked with their
//! iterators, and every call lands in `mesos-driver`, which owns all driver
//! behaviour. Callbacks run on the driver's actor thread (for `V1Mesos`
//! and `V0Mesos`, the library's callback or adapter thread), attached to the
//! JVM as a daemon, and find classes through the class loader that loaded
//! the driver class (falling back to the context loader saved at load).
//! Fields that older jars lack (`implicitAcknowledgements`,
//! `suppressedRoles`, `credential`) are probed, never assumed.
//!
//! Modules:
//! - `convert`: protobuf, collection and status conversion helpers.
//! - `scheduler`: `MesosSchedulerDriver` natives and the Java scheduler.
//! - `executor`: `MesosExecutorDriver` natives and the Java executor.
//! - `state`: `ZooKeeperState`, `AbstractState` futures and `Variable`
//!   over `mesos-state`.
//! - `v1`: `V1Mesos` (the v1 HTTP scheduler library) and `V0Mesos` (the
//!   v1 interface over the v0 driver) natives and the Java v1 scheduler.
//! - `unsupported`: `Log`, `LevelDBState` and `LogState`, which throw a
//!   clear Java exception.

// JNI is an FFI boundary: the native driver lives behind a `long` field of
// the Java object, and turning it back into a reference needs `unsafe`.
// Every block says why it holds; the rest of the workspace denies it.
#![allow(unsafe_code)]
// `FrameworkInfo.role` is deprecated in the protos but is what Spark sets.
#![allow(deprecated)]

mod convert;
mod executor;
mod scheduler;
mod state;
mod unsupported;
mod v1;

use std::ffi::c_void;
use std::sync::OnceLock;

use jni::objects::{GlobalRef, JClass, JObject, JValue};
use jni::sys::{jint, jobject, JNI_VERSION_1_2};
use jni::{JNIEnv, JavaVM};

/// The context class loader of the thread that loaded the library.
static CONTEXT_LOADER: OnceLock<GlobalRef> = OnceLock::new();

fn init_logging() {
    // `GLOG_v`/`RUST_LOG` style control; quiet unless asked.
    let filter = std::env::var("MESOS_DRIVER_LOG").unwrap_or_else(|_| "info".to_string());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}

/// Keeps the context class loader, marks `MesosNativeLibrary.loaded` and
/// asks for JNI 1.2, as upstream's library does.
#[no_mangle]
pub extern "system" fn JNI_OnLoad(vm: JavaVM, _reserved: *mut c_void) -> jint {
    init_logging();
    let Ok(mut env) = vm.get_env() else {
        return JNI_VERSION_1_2;
    };
    let loader = env
        .call_static_method(
            "java/lang/Thread",
            "currentThread",
            "()Ljava/lang/Thread;",
            &[],
        )
        .and_then(|t| t.l())
        .and_then(|thread| {
            env.call_method(
                &thread,
                "getContextClassLoader",
                "()Ljava/lang/ClassLoader;",
                &[],
            )
        })
        .and_then(|l| l.l());
    match loader {
        Ok(loader) if !loader.is_null() => {
            if let Ok(global) = env.new_global_ref(&loader) {
                let _ = CONTEXT_LOADER.set(global);
            }
        }
        _ => {
            let _ = env.exception_clear();
        }
    }
    // Older and newer jars both have it; probe anyway.
    if env
        .set_static_field(
            "org/apache/mesos/MesosNativeLibrary",
            ("org/apache/mesos/MesosNativeLibrary", "loaded", "Z"),
            JValue::Bool(1),
        )
        .is_err()
    {
        let _ = env.exception_clear();
    }
    JNI_VERSION_1_2
}

/// `MesosNativeLibrary._version()`: the version of this library.
#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosNativeLibrary__1version<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jobject {
    let (major, minor, patch) = mesos_driver::VERSION;
    match env.new_object(
        "org/apache/mesos/MesosNativeLibrary$Version",
        "(JJJ)V",
        &[
            JValue::Long(major),
            JValue::Long(minor),
            JValue::Long(patch),
        ],
    ) {
        Ok(version) => version.into_raw(),
        Err(_) => JObject::null().into_raw(),
    }
}
