//! `org.apache.mesos.MesosExecutorDriver`'s natives, and the Java
//! `Executor` seen as a `mesos_driver::Executor`.
//!
//! The native driver is a `Box<ExecutorDriver>` whose address lives in the
//! Java object's `__driver` field from `initialize` to `finalize`.

use jni::objects::{GlobalRef, JByteArray, JObject, JValue, WeakRef};
use jni::sys::{jlong, jobject};
use jni::{JNIEnv, JavaVM};
use mesos_driver::{Executor, ExecutorDriver, Status};
use mesos_proto::mesos::{ExecutorInfo, FrameworkInfo, SlaveInfo, TaskId, TaskInfo, TaskStatus};

use crate::convert::{self, fail, from_java, Failure, Result};

const DRIVER_FIELD: &str = "__driver";
const EXECUTOR_FIELD: &str = "__executor";
const ED: &str = "Lorg/apache/mesos/ExecutorDriver;";

fn driver<'a>(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<&'a ExecutorDriver> {
    let ptr = env.get_field(this, DRIVER_FIELD, "J")?.j()?;
    if ptr == 0 {
        return Err(Failure::Decode("the driver is not initialized".into()));
    }
    // SAFETY: a non-zero `__driver` is the address `initialize` got from
    // `Box::into_raw`; only `finalize`, which the JVM runs once no other
    // native call on the object can happen, frees it and clears the field.
    Ok(unsafe { &*(ptr as *const ExecutorDriver) })
}

fn native(env: &mut JNIEnv<'_>, body: impl FnOnce(&mut JNIEnv<'_>) -> Result<Status>) -> jobject {
    match body(env) {
        Ok(status) => convert::status(env, status),
        Err(failure) => fail(env, failure),
    }
}

struct JavaExecutor {
    vm: JavaVM,
    driver: WeakRef,
    executor: GlobalRef,
    loader: GlobalRef,
}

impl Drop for JavaExecutor {
    fn drop(&mut self) {
        // The references below are deleted through JNI, which needs this
        // thread attached; the actor thread may never have been (no
        // callback ran), so attach it (as a daemon) first.
        let _ = self.vm.attach_current_thread_as_daemon();
    }
}

impl JavaExecutor {
    /// Calls `name` on the Java executor (driver object first). A callback
    /// that throws aborts the driver, as upstream's library does.
    fn call(
        &self,
        native: &ExecutorDriver,
        name: &str,
        sig: &str,
        args: impl for<'l> FnOnce(&mut JNIEnv<'l>, &GlobalRef) -> Result<Vec<JObject<'l>>>,
    ) {
        let mut env = match self.vm.attach_current_thread_as_daemon() {
            Ok(env) => env,
            Err(e) => {
                tracing::error!("cannot attach the executor driver thread to the JVM: {e}");
                return;
            }
        };
        let result = env.with_local_frame(16, |env| -> Result<()> {
            let Some(jdriver) = self.driver.upgrade_local(env)? else {
                return Ok(());
            };
            let values = args(env, &self.loader)?;
            let mut jargs: Vec<JValue<'_, '_>> = vec![JValue::Object(&jdriver)];
            jargs.extend(values.iter().map(JValue::Object));
            env.call_method(self.executor.as_obj(), name, sig, &jargs)?;
            Ok(())
        });
        if env.exception_check().unwrap_or(false) {
            let _ = env.exception_describe();
            let _ = env.exception_clear();
            tracing::error!("Executor.{name} threw an exception; aborting the driver");
            native.abort();
        } else if let Err(failure) = result {
            tracing::error!("Executor.{name} could not be called: {failure}");
        }
    }
}

impl Executor for JavaExecutor {
    fn registered(
        &mut self,
        d: &ExecutorDriver,
        executor: &ExecutorInfo,
        framework: &FrameworkInfo,
        slave: &SlaveInfo,
    ) {
        let sig = format!("({ED}Lorg/apache/mesos/Protos$ExecutorInfo;Lorg/apache/mesos/Protos$FrameworkInfo;Lorg/apache/mesos/Protos$SlaveInfo;)V");
        self.call(d, "registered", &sig, |env, l| {
            Ok(vec![
                convert::to_java(env, l, "ExecutorInfo", executor)?,
                convert::to_java(env, l, "FrameworkInfo", framework)?,
                convert::to_java(env, l, "SlaveInfo", slave)?,
            ])
        });
    }

    fn reregistered(&mut self, d: &ExecutorDriver, slave: &SlaveInfo) {
        let sig = format!("({ED}Lorg/apache/mesos/Protos$SlaveInfo;)V");
        self.call(d, "reregistered", &sig, |env, l| {
            Ok(vec![convert::to_java(env, l, "SlaveInfo", slave)?])
        });
    }

    fn disconnected(&mut self, d: &ExecutorDriver) {
        self.call(d, "disconnected", &format!("({ED})V"), |_, _| Ok(vec![]));
    }

    fn launch_task(&mut self, d: &ExecutorDriver, task: &TaskInfo) {
        let sig = format!("({ED}Lorg/apache/mesos/Protos$TaskInfo;)V");
        self.call(d, "launchTask", &sig, |env, l| {
            Ok(vec![convert::to_java(env, l, "TaskInfo", task)?])
        });
    }

    fn kill_task(&mut self, d: &ExecutorDriver, task_id: &TaskId) {
        let sig = format!("({ED}Lorg/apache/mesos/Protos$TaskID;)V");
        self.call(d, "killTask", &sig, |env, l| {
            Ok(vec![convert::to_java(env, l, "TaskID", task_id)?])
        });
    }

    fn framework_message(&mut self, d: &ExecutorDriver, data: &[u8]) {
        self.call(d, "frameworkMessage", &format!("({ED}[B)V"), |env, _| {
            Ok(vec![JObject::from(env.byte_array_from_slice(data)?)])
        });
    }

    fn shutdown(&mut self, d: &ExecutorDriver) {
        self.call(d, "shutdown", &format!("({ED})V"), |_, _| Ok(vec![]));
    }

    fn error(&mut self, d: &ExecutorDriver, message: &str) {
        let sig = format!("({ED}Ljava/lang/String;)V");
        self.call(d, "error", &sig, |env, _| {
            Ok(vec![JObject::from(env.new_string(message)?)])
        });
    }
}

fn initialize(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<()> {
    let executor = env
        .get_field(this, "executor", "Lorg/apache/mesos/Executor;")?
        .l()?;
    let java = JavaExecutor {
        vm: env.get_java_vm()?,
        driver: env
            .new_weak_ref(this)?
            .ok_or_else(|| Failure::Decode("the driver object is null".into()))?,
        executor: env.new_global_ref(&executor)?,
        loader: convert::loader_for(env, this)?,
    };
    let ptr = Box::into_raw(Box::new(ExecutorDriver::new(Box::new(java)))) as jlong;
    env.set_field(this, DRIVER_FIELD, "J", JValue::Long(ptr))?;
    env.set_field(this, EXECUTOR_FIELD, "J", JValue::Long(ptr))?;
    Ok(())
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_initialize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    if let Err(failure) = initialize(&mut env, &this) {
        fail(&mut env, failure);
    }
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_finalize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    let Ok(ptr) = env.get_field(&this, DRIVER_FIELD, "J").and_then(|v| v.j()) else {
        let _ = env.exception_clear();
        return;
    };
    if ptr == 0 {
        return;
    }
    let _ = env.set_field(&this, DRIVER_FIELD, "J", JValue::Long(0));
    let _ = env.set_field(&this, EXECUTOR_FIELD, "J", JValue::Long(0));
    // SAFETY: `ptr` came from `Box::into_raw` in `initialize`, the field was
    // just cleared and the JVM finalizes an object once, after every other
    // native call on it has returned.
    let driver = unsafe { Box::from_raw(ptr as *mut ExecutorDriver) };
    driver.terminate();
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_start<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.start()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_stop<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.stop()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_abort<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.abort()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_join<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.join()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_sendStatusUpdate<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    status: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let status: TaskStatus = from_java(env, &status)?;
        Ok(driver(env, &this)?.send_status_update(status))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosExecutorDriver_sendFrameworkMessage<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    data: JByteArray<'l>,
) -> jobject {
    native(&mut env, |env| {
        let data = convert::bytes(env, &data)?;
        Ok(driver(env, &this)?.send_framework_message(data))
    })
}
