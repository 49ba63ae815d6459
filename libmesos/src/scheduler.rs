//! `org.apache.mesos.MesosSchedulerDriver`'s natives, and the Java
//! `Scheduler` seen as a `mesos_driver::Scheduler`.
//!
//! The native driver is a `Box<SchedulerDriver>` whose address lives in the
//! Java object's `__driver` field from `initialize` to `finalize`.

use jni::objects::{GlobalRef, JByteArray, JObject, JValue, WeakRef};
use jni::sys::{jboolean, jlong, jobject};
use jni::{JNIEnv, JavaVM};
use mesos_driver::scheduler::Config;
use mesos_driver::{Scheduler, SchedulerDriver, Status};
use mesos_proto::mesos::{
    offer, Credential, ExecutorId, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId,
    Request, SlaveId, TaskId, TaskInfo, TaskStatus,
};

use crate::convert::{self, fail, from_java, messages, probe_field, Failure, Result};

const DRIVER_FIELD: &str = "__driver";
const SCHEDULER_FIELD: &str = "__scheduler";

/// The native driver of `this`, or an error before `initialize`/after
/// `finalize`.
fn driver<'a>(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<&'a SchedulerDriver> {
    let ptr = env.get_field(this, DRIVER_FIELD, "J")?.j()?;
    if ptr == 0 {
        return Err(Failure::Decode("the driver is not initialized".into()));
    }
    // SAFETY: a non-zero `__driver` is the address `initialize` got from
    // `Box::into_raw`, and only `finalize` (the JVM calls it once the object
    // is unreachable, so no other native of this object runs concurrently or
    // later) frees it and resets the field.
    Ok(unsafe { &*(ptr as *const SchedulerDriver) })
}

/// Runs a native method body, mapping failures to a Java exception.
fn native(env: &mut JNIEnv<'_>, body: impl FnOnce(&mut JNIEnv<'_>) -> Result<Status>) -> jobject {
    match body(env) {
        Ok(status) => convert::status(env, status),
        Err(failure) => fail(env, failure),
    }
}

/// The Java scheduler behind a driver; every method is a callback made on
/// the driver's actor thread.
struct JavaScheduler {
    vm: JavaVM,
    /// Weak, so that the driver object can be collected and the JVM exit.
    driver: WeakRef,
    scheduler: GlobalRef,
    loader: GlobalRef,
}

impl Drop for JavaScheduler {
    fn drop(&mut self) {
        // The references below are deleted through JNI, which needs this
        // thread attached; the actor thread may never have been (no
        // callback ran), so attach it (as a daemon) first.
        let _ = self.vm.attach_current_thread_as_daemon();
    }
}

impl JavaScheduler {
    /// Calls `name` on the Java scheduler with the driver object first and
    /// the arguments `args` builds. A callback that throws aborts the
    /// driver, as upstream's library does.
    fn call(
        &self,
        native: &SchedulerDriver,
        name: &str,
        sig: &str,
        args: impl for<'l> FnOnce(&mut JNIEnv<'l>, &GlobalRef) -> Result<Vec<JObjectOrInt<'l>>>,
    ) {
        let mut env = match self.vm.attach_current_thread_as_daemon() {
            Ok(env) => env,
            Err(e) => {
                tracing::error!("cannot attach the driver thread to the JVM: {e}");
                return;
            }
        };
        let result = env.with_local_frame(16, |env| -> Result<()> {
            let Some(jdriver) = self.driver.upgrade_local(env)? else {
                // The driver object was collected; nobody is listening.
                return Ok(());
            };
            let values = args(env, &self.loader)?;
            let mut jargs: Vec<JValue<'_, '_>> = vec![JValue::Object(&jdriver)];
            for value in &values {
                jargs.push(match value {
                    JObjectOrInt::Object(o) => JValue::Object(o),
                    JObjectOrInt::Int(i) => JValue::Int(*i),
                });
            }
            env.call_method(self.scheduler.as_obj(), name, sig, &jargs)?;
            Ok(())
        });
        if env.exception_check().unwrap_or(false) {
            let _ = env.exception_describe();
            let _ = env.exception_clear();
            tracing::error!("Scheduler.{name} threw an exception; aborting the driver");
            native.abort();
        } else if let Err(failure) = result {
            tracing::error!("Scheduler.{name} could not be called: {failure}");
        }
    }
}

/// A callback argument after the driver object.
enum JObjectOrInt<'l> {
    Object(JObject<'l>),
    Int(i32),
}

fn obj<'l, M: prost::Message>(
    env: &mut JNIEnv<'l>,
    loader: &GlobalRef,
    name: &str,
    m: &M,
) -> Result<JObjectOrInt<'l>> {
    Ok(JObjectOrInt::Object(convert::to_java(
        env, loader, name, m,
    )?))
}

const SD: &str = "Lorg/apache/mesos/SchedulerDriver;";

impl Scheduler for JavaScheduler {
    fn registered(&mut self, d: &SchedulerDriver, id: &FrameworkId, master: &MasterInfo) {
        let sig = format!(
            "({SD}Lorg/apache/mesos/Protos$FrameworkID;Lorg/apache/mesos/Protos$MasterInfo;)V"
        );
        self.call(d, "registered", &sig, |env, l| {
            Ok(vec![
                obj(env, l, "FrameworkID", id)?,
                obj(env, l, "MasterInfo", master)?,
            ])
        });
    }

    fn reregistered(&mut self, d: &SchedulerDriver, master: &MasterInfo) {
        let sig = format!("({SD}Lorg/apache/mesos/Protos$MasterInfo;)V");
        self.call(d, "reregistered", &sig, |env, l| {
            Ok(vec![obj(env, l, "MasterInfo", master)?])
        });
    }

    fn disconnected(&mut self, d: &SchedulerDriver) {
        self.call(d, "disconnected", &format!("({SD})V"), |_, _| Ok(vec![]));
    }

    fn resource_offers(&mut self, d: &SchedulerDriver, offers: &[Offer]) {
        let sig = format!("({SD}Ljava/util/List;)V");
        self.call(d, "resourceOffers", &sig, |env, l| {
            let list = env.new_object("java/util/ArrayList", "()V", &[])?;
            for offer in offers {
                let o = convert::to_java(env, l, "Offer", offer)?;
                env.call_method(&list, "add", "(Ljava/lang/Object;)Z", &[JValue::Object(&o)])?;
                env.delete_local_ref(o)?;
            }
            Ok(vec![JObjectOrInt::Object(list)])
        });
    }

    fn offer_rescinded(&mut self, d: &SchedulerDriver, offer_id: &OfferId) {
        let sig = format!("({SD}Lorg/apache/mesos/Protos$OfferID;)V");
        self.call(d, "offerRescinded", &sig, |env, l| {
            Ok(vec![obj(env, l, "OfferID", offer_id)?])
        });
    }

    fn status_update(&mut self, d: &SchedulerDriver, status: &TaskStatus) {
        let sig = format!("({SD}Lorg/apache/mesos/Protos$TaskStatus;)V");
        self.call(d, "statusUpdate", &sig, |env, l| {
            Ok(vec![obj(env, l, "TaskStatus", status)?])
        });
    }

    fn framework_message(
        &mut self,
        d: &SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        data: &[u8],
    ) {
        let sig = format!(
            "({SD}Lorg/apache/mesos/Protos$ExecutorID;Lorg/apache/mesos/Protos$SlaveID;[B)V"
        );
        self.call(d, "frameworkMessage", &sig, |env, l| {
            let bytes = env.byte_array_from_slice(data)?;
            Ok(vec![
                obj(env, l, "ExecutorID", executor_id)?,
                obj(env, l, "SlaveID", slave_id)?,
                JObjectOrInt::Object(JObject::from(bytes)),
            ])
        });
    }

    fn slave_lost(&mut self, d: &SchedulerDriver, slave_id: &SlaveId) {
        let sig = format!("({SD}Lorg/apache/mesos/Protos$SlaveID;)V");
        self.call(d, "slaveLost", &sig, |env, l| {
            Ok(vec![obj(env, l, "SlaveID", slave_id)?])
        });
    }

    fn executor_lost(
        &mut self,
        d: &SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        status: i32,
    ) {
        let sig = format!(
            "({SD}Lorg/apache/mesos/Protos$ExecutorID;Lorg/apache/mesos/Protos$SlaveID;I)V"
        );
        self.call(d, "executorLost", &sig, |env, l| {
            Ok(vec![
                obj(env, l, "ExecutorID", executor_id)?,
                obj(env, l, "SlaveID", slave_id)?,
                JObjectOrInt::Int(status),
            ])
        });
    }

    fn error(&mut self, d: &SchedulerDriver, message: &str) {
        let sig = format!("({SD}Ljava/lang/String;)V");
        self.call(d, "error", &sig, |env, _| {
            Ok(vec![JObjectOrInt::Object(JObject::from(
                env.new_string(message)?,
            ))])
        });
    }
}

fn initialize(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<()> {
    let scheduler = env
        .get_field(this, "scheduler", "Lorg/apache/mesos/Scheduler;")?
        .l()?;
    let framework = env
        .get_field(this, "framework", "Lorg/apache/mesos/Protos$FrameworkInfo;")?
        .l()?;
    let framework: FrameworkInfo = from_java(env, &framework)?;
    let master = env.get_field(this, "master", "Ljava/lang/String;")?.l()?;
    let master = convert::string(env, &master)?;
    let implicit_acknowledgements = match probe_field(env, this, "implicitAcknowledgements", "Z")? {
        Some(value) => value.z()?,
        None => true,
    };
    let credential: Option<Credential> = match probe_field(
        env,
        this,
        "credential",
        "Lorg/apache/mesos/Protos$Credential;",
    )? {
        Some(value) => {
            let c = value.l()?;
            if c.is_null() {
                None
            } else {
                Some(from_java(env, &c)?)
            }
        }
        None => None,
    };
    let suppressed_roles =
        match probe_field(env, this, "suppressedRoles", "Ljava/util/Collection;")? {
            Some(value) => {
                let roles = value.l()?;
                convert::strings(env, &roles)?
            }
            None => Vec::new(),
        };
    let java = JavaScheduler {
        vm: env.get_java_vm()?,
        driver: env
            .new_weak_ref(this)?
            .ok_or_else(|| Failure::Decode("the driver object is null".into()))?,
        scheduler: env.new_global_ref(&scheduler)?,
        loader: convert::loader_for(env, this)?,
    };
    let driver = SchedulerDriver::new(
        Box::new(java),
        Config {
            framework,
            master,
            implicit_acknowledgements,
            credential,
            suppressed_roles,
        },
    );
    let ptr = Box::into_raw(Box::new(driver)) as jlong;
    env.set_field(this, DRIVER_FIELD, "J", JValue::Long(ptr))?;
    env.set_field(this, SCHEDULER_FIELD, "J", JValue::Long(ptr))?;
    Ok(())
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_initialize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    if let Err(failure) = initialize(&mut env, &this) {
        fail(&mut env, failure);
    }
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_finalize<'l>(
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
    let _ = env.set_field(&this, SCHEDULER_FIELD, "J", JValue::Long(0));
    // SAFETY: `ptr` came from `Box::into_raw` in `initialize`, the field was
    // just cleared, and the JVM finalizes an object once, after every other
    // native call on it has returned.
    let driver = unsafe { Box::from_raw(ptr as *mut SchedulerDriver) };
    driver.terminate();
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_start<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.start()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_stop<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    failover: jboolean,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.stop(failover != 0)))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_abort<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.abort()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_join<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| Ok(driver(env, &this)?.join()))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_requestResources<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    requests: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let requests: Vec<Request> = messages(env, &requests)?;
        Ok(driver(env, &this)?.request_resources(requests))
    })
}

fn launch(
    env: &mut JNIEnv<'_>,
    this: &JObject<'_>,
    offer_ids: Vec<OfferId>,
    tasks: &JObject<'_>,
    filters: &JObject<'_>,
) -> Result<Status> {
    let tasks: Vec<TaskInfo> = messages(env, tasks)?;
    let filters: Filters = from_java(env, filters)?;
    Ok(driver(env, this)?.launch_tasks(offer_ids, tasks, filters))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_launchTasks__Lorg_apache_mesos_Protos_00024OfferID_2Ljava_util_Collection_2Lorg_apache_mesos_Protos_00024Filters_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    offer_id: JObject<'l>,
    tasks: JObject<'l>,
    filters: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let offer_id: OfferId = from_java(env, &offer_id)?;
        launch(env, &this, vec![offer_id], &tasks, &filters)
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_launchTasks__Ljava_util_Collection_2Ljava_util_Collection_2Lorg_apache_mesos_Protos_00024Filters_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    offer_ids: JObject<'l>,
    tasks: JObject<'l>,
    filters: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let offer_ids: Vec<OfferId> = messages(env, &offer_ids)?;
        launch(env, &this, offer_ids, &tasks, &filters)
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_killTask<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    task_id: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let task_id: TaskId = from_java(env, &task_id)?;
        Ok(driver(env, &this)?.kill_task(task_id))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_acceptOffers__Ljava_util_Collection_2Ljava_util_Collection_2Lorg_apache_mesos_Protos_00024Filters_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    offer_ids: JObject<'l>,
    operations: JObject<'l>,
    filters: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let offer_ids: Vec<OfferId> = messages(env, &offer_ids)?;
        let operations: Vec<offer::Operation> = messages(env, &operations)?;
        let filters: Filters = from_java(env, &filters)?;
        Ok(driver(env, &this)?.accept_offers(offer_ids, operations, filters))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_declineOffer<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    offer_id: JObject<'l>,
    filters: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let offer_id: OfferId = from_java(env, &offer_id)?;
        let filters: Filters = from_java(env, &filters)?;
        Ok(driver(env, &this)?.decline_offer(offer_id, filters))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_reviveOffers__<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        Ok(driver(env, &this)?.revive_offers(Vec::new()))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_reviveOffers__Ljava_util_Collection_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    roles: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let roles = convert::strings(env, &roles)?;
        Ok(driver(env, &this)?.revive_offers(roles))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_suppressOffers__<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        Ok(driver(env, &this)?.suppress_offers(Vec::new()))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_suppressOffers__Ljava_util_Collection_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    roles: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let roles = convert::strings(env, &roles)?;
        Ok(driver(env, &this)?.suppress_offers(roles))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_acknowledgeStatusUpdate<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    status: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let status: TaskStatus = from_java(env, &status)?;
        Ok(driver(env, &this)?.acknowledge_status_update(status))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_sendFrameworkMessage<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    executor_id: JObject<'l>,
    slave_id: JObject<'l>,
    data: JByteArray<'l>,
) -> jobject {
    native(&mut env, |env| {
        let executor_id: ExecutorId = from_java(env, &executor_id)?;
        let slave_id: SlaveId = from_java(env, &slave_id)?;
        let data = convert::bytes(env, &data)?;
        Ok(driver(env, &this)?.send_framework_message(executor_id, slave_id, data))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_reconcileTasks<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    statuses: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let statuses: Vec<TaskStatus> = messages(env, &statuses)?;
        Ok(driver(env, &this)?.reconcile_tasks(statuses))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_MesosSchedulerDriver_updateFramework<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    framework: JObject<'l>,
    suppressed_roles: JObject<'l>,
) -> jobject {
    native(&mut env, |env| {
        let framework: FrameworkInfo = from_java(env, &framework)?;
        let roles = convert::strings(env, &suppressed_roles)?;
        Ok(driver(env, &this)?.update_framework(framework, roles))
    })
}
