//! `org.apache.mesos.v1.scheduler.V1Mesos` and `V0Mesos`'s natives, and
//! the Java v1 `Scheduler` seen as `mesos_driver::v1::Callbacks`.
//!
//! The Java object's `__mesos` field holds a key into [`HANDLES`], never an
//! address: `initialize` inserts the library, `finalize` removes (and so
//! stops) it, and a call with an unknown key only logs. The library holds
//! the Java object weakly, as upstream does, so it can be collected; the
//! scheduler is read from its `scheduler` field at each callback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use jni::objects::{GlobalRef, JObject, JValue, WeakRef};
use jni::{JNIEnv, JavaVM};
use mesos_driver::v0_adapter::V0Mesos;
use mesos_driver::v1::{Callbacks, ContentType, Flow, Mesos};
use mesos_proto::mesos::v1::scheduler::{Call, Event};
use mesos_proto::mesos::v1::{Credential, FrameworkInfo};

use crate::convert::{self, fail, from_java, Failure, Result};

const HANDLE_FIELD: &str = "__mesos";
const MESOS: &str = "Lorg/apache/mesos/v1/scheduler/Mesos;";

/// A running library behind a Java object.
enum Native {
    V1(Mesos),
    V0(V0Mesos),
}

impl Native {
    fn send(&self, call: Call) {
        match self {
            Native::V1(mesos) => mesos.send(call),
            Native::V0(mesos) => mesos.send(call),
        }
    }
}

/// Every live library, by the key in its object's `__mesos` field.
static HANDLES: OnceLock<Mutex<HashMap<i64, Arc<Native>>>> = OnceLock::new();
static NEXT_HANDLE: AtomicI64 = AtomicI64::new(1);

fn handles() -> std::sync::MutexGuard<'static, HashMap<i64, Arc<Native>>> {
    // Inserts and removes are single operations; a panic cannot leave the
    // map half-updated.
    HANDLES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn lookup(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<Option<Arc<Native>>> {
    let key = env.get_field(this, HANDLE_FIELD, "J")?.j()?;
    Ok(handles().get(&key).cloned())
}

/// The Java scheduler of a `V1Mesos` or `V0Mesos` object.
struct JavaCallbacks {
    vm: JavaVM,
    /// Weak, so that the object can be collected (and `finalize` stop us).
    mesos: WeakRef,
    loader: GlobalRef,
}

impl Drop for JavaCallbacks {
    fn drop(&mut self) {
        // Deleting the references needs this thread attached.
        let _ = self.vm.attach_current_thread_as_daemon();
    }
}

impl JavaCallbacks {
    /// Calls `name` on the scheduler with the mesos object first and the
    /// argument `arg` builds. A callback that throws ends the library
    /// (upstream aborts the whole process there); an argument that cannot
    /// be built (an event Java's protobuf refuses) is logged and skipped.
    fn call(
        &self,
        name: &str,
        sig: &str,
        arg: impl for<'l> FnOnce(&mut JNIEnv<'l>, &GlobalRef) -> Result<Option<JObject<'l>>>,
    ) -> Flow {
        let mut env = match self.vm.attach_current_thread_as_daemon() {
            Ok(env) => env,
            Err(e) => {
                tracing::error!("cannot attach the callback thread to the JVM: {e}");
                return Flow::Continue;
            }
        };
        let mut threw = false;
        let result = env.with_local_frame(16, |env| -> Result<()> {
            let Some(jmesos) = self.mesos.upgrade_local(env)? else {
                // Collected: nobody is listening.
                return Ok(());
            };
            let scheduler = env
                .get_field(
                    &jmesos,
                    "scheduler",
                    "Lorg/apache/mesos/v1/scheduler/Scheduler;",
                )?
                .l()?;
            let value = match arg(env, &self.loader) {
                Ok(value) => value,
                Err(failure) => {
                    let _ = env.exception_clear();
                    tracing::error!("not delivering Scheduler.{name}: {failure}");
                    return Ok(());
                }
            };
            let mut args = vec![JValue::Object(&jmesos)];
            if let Some(value) = &value {
                args.push(JValue::Object(value));
            }
            if env.call_method(&scheduler, name, sig, &args).is_err()
                && env.exception_check().unwrap_or(false)
            {
                threw = true;
                let _ = env.exception_describe();
                let _ = env.exception_clear();
            }
            Ok(())
        });
        if threw {
            tracing::error!(
                "Exception thrown during `{name}` call; stopping the scheduler library"
            );
            return Flow::Abort;
        }
        if let Err(failure) = result {
            let _ = env.exception_clear();
            tracing::error!("Scheduler.{name} could not be called: {failure}");
        }
        Flow::Continue
    }
}

impl Callbacks for JavaCallbacks {
    fn connected(&mut self) -> Flow {
        self.call("connected", &format!("({MESOS})V"), |_, _| Ok(None))
    }

    fn disconnected(&mut self) -> Flow {
        self.call("disconnected", &format!("({MESOS})V"), |_, _| Ok(None))
    }

    fn received(&mut self, event: Event) -> Flow {
        let sig = format!("({MESOS}Lorg/apache/mesos/v1/scheduler/Protos$Event;)V");
        self.call("received", &sig, |env, loader| {
            convert::to_java_class(
                env,
                loader,
                "org.apache.mesos.v1.scheduler.Protos$Event",
                &event,
            )
            .map(Some)
        })
    }
}

fn callbacks(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<Box<JavaCallbacks>> {
    Ok(Box::new(JavaCallbacks {
        vm: env.get_java_vm()?,
        mesos: env
            .new_weak_ref(this)?
            .ok_or_else(|| Failure::Decode("the mesos object is null".into()))?,
        loader: convert::loader_for(env, this)?,
    }))
}

fn credential(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<Option<Credential>> {
    let value = env
        .get_field(
            this,
            "credential",
            "Lorg/apache/mesos/v1/Protos$Credential;",
        )?
        .l()?;
    if value.is_null() {
        return Ok(None);
    }
    Ok(Some(from_java(env, &value)?))
}

fn register(env: &mut JNIEnv<'_>, this: &JObject<'_>, native: Native) -> Result<()> {
    let key = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    handles().insert(key, Arc::new(native));
    if let Err(e) = env.set_field(this, HANDLE_FIELD, "J", JValue::Long(key)) {
        handles().remove(&key);
        return Err(e.into());
    }
    Ok(())
}

fn initialize_v1(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<()> {
    let master = env.get_field(this, "master", "Ljava/lang/String;")?.l()?;
    let master = convert::string(env, &master)?;
    let credential = credential(env, this)?;
    let callbacks = callbacks(env, this)?;
    let mesos = Mesos::new(&master, ContentType::Protobuf, credential, callbacks)
        .map_err(|e| Failure::Decode(e.to_string()))?;
    register(env, this, Native::V1(mesos))
}

fn initialize_v0(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<()> {
    let framework = env
        .get_field(
            this,
            "framework",
            "Lorg/apache/mesos/v1/Protos$FrameworkInfo;",
        )?
        .l()?;
    let framework: FrameworkInfo = from_java(env, &framework)?;
    let master = env.get_field(this, "master", "Ljava/lang/String;")?.l()?;
    let master = convert::string(env, &master)?;
    let credential = credential(env, this)?;
    let callbacks = callbacks(env, this)?;
    let mesos = V0Mesos::new(framework, &master, credential, callbacks)
        .map_err(|e| Failure::Decode(e.to_string()))?;
    register(env, this, Native::V0(mesos))
}

fn finalize(env: &mut JNIEnv<'_>, this: &JObject<'_>) {
    let Ok(key) = env.get_field(this, HANDLE_FIELD, "J").and_then(|v| v.j()) else {
        let _ = env.exception_clear();
        return;
    };
    let _ = env.set_field(this, HANDLE_FIELD, "J", JValue::Long(0));
    // Taken out under the lock, dropped (stopped) outside it.
    let native = handles().remove(&key);
    drop(native);
}

fn send(env: &mut JNIEnv<'_>, this: &JObject<'_>, call: &JObject<'_>) -> Result<()> {
    let call: Call = from_java(env, call)?;
    match lookup(env, this)? {
        Some(native) => native.send(call),
        None => tracing::warn!(
            "Ignoring call {} as the library has not been initialized",
            call.r#type().as_str_name()
        ),
    }
    Ok(())
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V1Mesos_initialize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    if let Err(failure) = initialize_v1(&mut env, &this) {
        fail(&mut env, failure);
    }
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V1Mesos_finalize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    finalize(&mut env, &this);
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V1Mesos_send<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    call: JObject<'l>,
) {
    if let Err(failure) = send(&mut env, &this, &call) {
        fail(&mut env, failure);
    }
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V1Mesos_reconnect<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    match lookup(&mut env, &this) {
        Ok(Some(native)) => match native.as_ref() {
            Native::V1(mesos) => mesos.reconnect(),
            Native::V0(_) => {}
        },
        Ok(None) => {
            tracing::warn!("Ignoring the reconnect request as the library has not been initialized")
        }
        Err(failure) => {
            fail(&mut env, failure);
        }
    }
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V0Mesos_initialize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    if let Err(failure) = initialize_v0(&mut env, &this) {
        fail(&mut env, failure);
    }
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V0Mesos_finalize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    finalize(&mut env, &this);
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_v1_scheduler_V0Mesos_send<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    call: JObject<'l>,
) {
    if let Err(failure) = send(&mut env, &this, &call) {
        fail(&mut env, failure);
    }
}
