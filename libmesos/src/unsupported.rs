//! The replicated log and the log- and LevelDB-backed state classes, which
//! this library does not provide: constructing one throws
//! `UnsupportedOperationException` with a clear message instead of
//! failing later with `UnsatisfiedLinkError`. (`ZooKeeperState` is in
//! `state`.)

use jni::objects::{JByteArray, JObject, JString};
use jni::sys::{jint, jlong};
use jni::JNIEnv;

fn refuse(env: &mut JNIEnv<'_>, what: &str) {
    let _ = env.throw_new(
        "java/lang/UnsupportedOperationException",
        format!("{what} is not supported by this libmesos (mesos-rs); use a framework that keeps its state elsewhere"),
    );
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_Log_initialize__ILjava_lang_String_2Ljava_util_Set_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    _this: JObject<'l>,
    _quorum: jint,
    _path: JString<'l>,
    _pids: JObject<'l>,
) {
    refuse(&mut env, "org.apache.mesos.Log (the replicated log)");
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_Log_initialize__ILjava_lang_String_2Ljava_lang_String_2JLjava_util_concurrent_TimeUnit_2Ljava_lang_String_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    _this: JObject<'l>,
    _quorum: jint,
    _path: JString<'l>,
    _servers: JString<'l>,
    _timeout: jlong,
    _unit: JObject<'l>,
    _znode: JString<'l>,
) {
    refuse(&mut env, "org.apache.mesos.Log (the replicated log)");
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_Log_initialize__ILjava_lang_String_2Ljava_lang_String_2JLjava_util_concurrent_TimeUnit_2Ljava_lang_String_2Ljava_lang_String_2_3B<
    'l,
>(
    mut env: JNIEnv<'l>,
    _this: JObject<'l>,
    _quorum: jint,
    _path: JString<'l>,
    _servers: JString<'l>,
    _timeout: jlong,
    _unit: JObject<'l>,
    _znode: JString<'l>,
    _scheme: JString<'l>,
    _credentials: JByteArray<'l>,
) {
    refuse(&mut env, "org.apache.mesos.Log (the replicated log)");
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_LevelDBState_initialize<'l>(
    mut env: JNIEnv<'l>,
    _this: JObject<'l>,
    _path: JString<'l>,
) {
    refuse(&mut env, "org.apache.mesos.state.LevelDBState");
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_apache_mesos_state_LogState_initialize<'l>(
    mut env: JNIEnv<'l>,
    _this: JObject<'l>,
    _servers: JString<'l>,
    _timeout: jlong,
    _unit: JObject<'l>,
    _znode: JString<'l>,
    _quorum: jlong,
    _path: JString<'l>,
    _diffs: jint,
) {
    refuse(&mut env, "org.apache.mesos.state.LogState");
}
