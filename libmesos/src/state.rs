//! `org.apache.mesos.state`: the natives of `ZooKeeperState`,
//! `AbstractState` (both the `__fetch_*` family that jars before 0.22.1
//! call and the named `FetchFuture`/`StoreFuture`/`ExpungeFuture`/
//! `NamesFuture` classes that later jars use) and `Variable`. All storage
//! behaviour lives in `mesos-state`; this module only marshals.
//!
//! The Java objects keep `long` handles (`__state`, `__variable`, a
//! future's `future`) that are keys into the tables below, not addresses:
//! a stale or foreign handle raises a Java exception instead of touching
//! freed memory, and no `unsafe` is needed. `finalize` removes the entry.
//!
//! Futures follow upstream's Java contract: `get` blocks; a failure is an
//! `ExecutionException`, a discarded operation a `CancellationException`,
//! `get(timeout)` past its timeout a `TimeoutException`; `cancel(true)`
//! asks for a discard but reports `false`, `isCancelled` is always
//! `false`, and `isDone` is true once finished or asked to discard. Unlike
//! upstream's library, `get(timeout)` honours sub-second timeouts and the
//! named future classes bind `isCancelled`/`isDone`/both `get`s.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jni::objects::{JByteArray, JObject, JString, JValue};
use jni::sys::{jboolean, jbyteArray, jlong, jobject, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;
use mesos_state::blocking::{BlockingState, Outcome, Pending};
use mesos_state::{Authentication, Variable, ZooKeeperStorageOptions};

/// Objects behind Java handles; 0 is never a key.
struct Table<T> {
    next: AtomicI64,
    items: Mutex<BTreeMap<i64, Arc<T>>>,
}

impl<T> Table<T> {
    const fn new() -> Table<T> {
        Table {
            next: AtomicI64::new(1),
            items: Mutex::new(BTreeMap::new()),
        }
    }

    fn items(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Arc<T>>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, item: T) -> i64 {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.items().insert(key, Arc::new(item));
        key
    }

    fn get(&self, key: i64) -> Option<Arc<T>> {
        self.items().get(&key).cloned()
    }

    fn remove(&self, key: i64) -> Option<Arc<T>> {
        self.items().remove(&key)
    }
}

/// One outstanding operation of a state.
enum Operation {
    Fetch(Pending<Variable>),
    Store(Pending<Option<Variable>>),
    Expunge(Pending<bool>),
    Names(Pending<Vec<String>>),
}

static STATES: Table<BlockingState> = Table::new();
static VARIABLES: Table<Variable> = Table::new();
static OPERATIONS: Table<Operation> = Table::new();

const STATE_FIELD: &str = "__state";
const VARIABLE_FIELD: &str = "__variable";
const VARIABLE_CLASS: &str = "org/apache/mesos/state/Variable";

/// Why a native could not produce its result.
enum Thrown {
    /// A JNI call failed; its Java exception is usually pending already.
    Jni(jni::errors::Error),
    /// Throw `class` with `message`.
    Java(&'static str, String),
}

impl From<jni::errors::Error> for Thrown {
    fn from(e: jni::errors::Error) -> Self {
        Thrown::Jni(e)
    }
}

type Result<T> = std::result::Result<T, Thrown>;

fn illegal_state(message: impl Into<String>) -> Thrown {
    Thrown::Java("java/lang/IllegalStateException", message.into())
}

/// Runs a native body, turning its failure into a Java exception;
/// `None` then stands for the method's (ignored) return value.
fn try_native<T>(
    env: &mut JNIEnv<'_>,
    body: impl FnOnce(&mut JNIEnv<'_>) -> Result<T>,
) -> Option<T> {
    match body(env) {
        Ok(value) => Some(value),
        Err(thrown) => {
            let pending = env.exception_check().unwrap_or(false);
            match thrown {
                Thrown::Java(class, message) => {
                    if pending {
                        let _ = env.exception_clear();
                    }
                    let _ = env.throw_new(class, message);
                }
                Thrown::Jni(e) if !pending => {
                    let _ = env.throw_new(
                        "java/lang/RuntimeException",
                        format!("JNI call failed: {e}"),
                    );
                }
                Thrown::Jni(_) => {}
            }
            None
        }
    }
}

fn native<T: Default>(env: &mut JNIEnv<'_>, body: impl FnOnce(&mut JNIEnv<'_>) -> Result<T>) -> T {
    try_native(env, body).unwrap_or_default()
}

fn raw(object: JObject<'_>) -> jobject {
    object.into_raw()
}

fn long_field(env: &mut JNIEnv<'_>, object: &JObject<'_>, field: &str) -> Result<i64> {
    Ok(env.get_field(object, field, "J")?.j()?)
}

fn java_string(env: &mut JNIEnv<'_>, string: &JString<'_>, what: &str) -> Result<String> {
    if string.is_null() {
        return Err(Thrown::Java(
            "java/lang/NullPointerException",
            format!("{what} is null"),
        ));
    }
    Ok(env.get_string(string)?.into())
}

/// `unit.toNanos(amount)` as a duration (negative is zero).
fn duration(env: &mut JNIEnv<'_>, amount: jlong, unit: &JObject<'_>) -> Result<Duration> {
    if unit.is_null() {
        return Err(Thrown::Java(
            "java/lang/NullPointerException",
            "TimeUnit is null".to_string(),
        ));
    }
    let nanos = env
        .call_method(unit, "toNanos", "(J)J", &[JValue::Long(amount)])?
        .j()?;
    Ok(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

fn state_of(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> Result<Arc<BlockingState>> {
    let key = long_field(env, this, STATE_FIELD)?;
    STATES
        .get(key)
        .ok_or_else(|| illegal_state("the state is not initialized or was finalized"))
}

fn variable_of(env: &mut JNIEnv<'_>, variable: &JObject<'_>) -> Result<Arc<Variable>> {
    if variable.is_null() {
        return Err(Thrown::Java(
            "java/lang/NullPointerException",
            "Variable is null".to_string(),
        ));
    }
    let key = long_field(env, variable, VARIABLE_FIELD)?;
    VARIABLES
        .get(key)
        .ok_or_else(|| illegal_state("the Variable was finalized"))
}

/// A new Java `Variable` for `variable`.
fn new_variable<'l>(env: &mut JNIEnv<'l>, variable: Variable) -> Result<JObject<'l>> {
    let object = env.new_object(VARIABLE_CLASS, "()V", &[])?;
    let key = VARIABLES.insert(variable);
    if let Err(e) = env.set_field(&object, VARIABLE_FIELD, "J", JValue::Long(key)) {
        VARIABLES.remove(key);
        return Err(e.into());
    }
    Ok(object)
}

fn start(env: &mut JNIEnv<'_>, this: &JObject<'_>, options: ZooKeeperStorageOptions) -> Result<()> {
    let state = BlockingState::new(options)
        .map_err(|e| Thrown::Java("java/lang/IllegalArgumentException", e.to_string()))?;
    let key = STATES.insert(state);
    if let Err(e) = env.set_field(this, STATE_FIELD, "J", JValue::Long(key)) {
        STATES.remove(key);
        return Err(e.into());
    }
    Ok(())
}

fn options(
    env: &mut JNIEnv<'_>,
    servers: &JString<'_>,
    timeout: jlong,
    unit: &JObject<'_>,
    znode: &JString<'_>,
) -> Result<ZooKeeperStorageOptions> {
    let servers = java_string(env, servers, "servers")?;
    let znode = java_string(env, znode, "znode")?;
    let timeout = duration(env, timeout, unit)?;
    Ok(ZooKeeperStorageOptions::new(servers, znode, timeout))
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_ZooKeeperState_initialize__Ljava_lang_String_2JLjava_util_concurrent_TimeUnit_2Ljava_lang_String_2<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    servers: JString<'l>,
    timeout: jlong,
    unit: JObject<'l>,
    znode: JString<'l>,
) {
    native(&mut env, |env| {
        let options = options(env, &servers, timeout, &unit, &znode)?;
        start(env, &this, options)
    })
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_apache_mesos_state_ZooKeeperState_initialize__Ljava_lang_String_2JLjava_util_concurrent_TimeUnit_2Ljava_lang_String_2Ljava_lang_String_2_3B<
    'l,
>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    servers: JString<'l>,
    timeout: jlong,
    unit: JObject<'l>,
    znode: JString<'l>,
    scheme: JString<'l>,
    credentials: JByteArray<'l>,
) {
    native(&mut env, |env| {
        let mut options = options(env, &servers, timeout, &unit, &znode)?;
        let scheme = java_string(env, &scheme, "scheme")?;
        if credentials.is_null() {
            return Err(Thrown::Java(
                "java/lang/NullPointerException",
                "credentials are null".to_string(),
            ));
        }
        let credentials = env.convert_byte_array(&credentials)?;
        options.auth = Some(Authentication {
            scheme,
            credentials,
        });
        start(env, &this, options)
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_AbstractState_finalize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    native(&mut env, |env| {
        let key = long_field(env, &this, STATE_FIELD)?;
        env.set_field(&this, STATE_FIELD, "J", JValue::Long(0))?;
        // Dropping the last reference stops its runtime and session;
        // futures still held by Java then fail with "No longer managing
        // storage".
        drop(STATES.remove(key));
        Ok(())
    })
}

// ---- Starting operations (AbstractState.__fetch/__store/__expunge/__names).

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_AbstractState__1_1fetch<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    name: JString<'l>,
) -> jlong {
    native(&mut env, |env| {
        let state = state_of(env, &this)?;
        let name = java_string(env, &name, "name")?;
        Ok(OPERATIONS.insert(Operation::Fetch(state.fetch(name))))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_AbstractState__1_1store<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    variable: JObject<'l>,
) -> jlong {
    native(&mut env, |env| {
        let variable = variable_of(env, &variable)?;
        let state = state_of(env, &this)?;
        Ok(OPERATIONS.insert(Operation::Store(state.store((*variable).clone()))))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_AbstractState__1_1expunge<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    variable: JObject<'l>,
) -> jlong {
    native(&mut env, |env| {
        let variable = variable_of(env, &variable)?;
        let state = state_of(env, &this)?;
        Ok(OPERATIONS.insert(Operation::Expunge(state.expunge((*variable).clone()))))
    })
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_AbstractState__1_1names<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jlong {
    native(&mut env, |env| {
        let state = state_of(env, &this)?;
        Ok(OPERATIONS.insert(Operation::Names(state.names())))
    })
}

// ---- Operations on a future, shared by both families.

fn operation(key: jlong) -> Result<Arc<Operation>> {
    OPERATIONS
        .get(key)
        .ok_or_else(|| illegal_state("the future was finalized"))
}

fn with_pending<R>(key: jlong, f: impl FnOnce(&dyn PendingControl) -> R) -> Result<R> {
    let operation = operation(key)?;
    Ok(match &*operation {
        Operation::Fetch(p) => f(p),
        Operation::Store(p) => f(p),
        Operation::Expunge(p) => f(p),
        Operation::Names(p) => f(p),
    })
}

/// What `cancel` and `isDone` need, whatever the result type.
trait PendingControl {
    fn discard(&self);
    fn is_done(&self) -> bool;
}

impl<T> PendingControl for Pending<T> {
    fn discard(&self) {
        Pending::discard(self);
    }
    fn is_done(&self) -> bool {
        Pending::is_done(self)
    }
}

fn cancel(env: &mut JNIEnv<'_>, key: jlong, may_interrupt: bool) -> jboolean {
    native(env, |_| {
        if may_interrupt {
            with_pending(key, |p| p.discard())?;
        }
        // As upstream: a discard was asked for, but whether it takes is
        // not known, so nothing counts as cancelled.
        Ok(JNI_FALSE)
    })
}

fn is_done(env: &mut JNIEnv<'_>, key: jlong) -> jboolean {
    native(env, |_| {
        Ok(if with_pending(key, |p| p.is_done())? {
            JNI_TRUE
        } else {
            JNI_FALSE
        })
    })
}

fn finalize_operation(key: jlong) {
    drop(OPERATIONS.remove(key));
}

/// Waits (forever, or up to `timeout`) for an outcome.
fn wait<T: Clone>(pending: &Pending<T>, timeout: Option<Duration>) -> Result<T> {
    let outcome = match timeout {
        None => pending.wait(),
        Some(timeout) => pending.wait_for(timeout).ok_or_else(|| {
            Thrown::Java(
                "java/util/concurrent/TimeoutException",
                "Failed to wait for future within timeout".to_string(),
            )
        })?,
    };
    match outcome {
        Outcome::Ready(value) => Ok(value),
        Outcome::Failed(message) => Err(Thrown::Java(
            "java/util/concurrent/ExecutionException",
            message,
        )),
        Outcome::Discarded => Err(Thrown::Java(
            "java/util/concurrent/CancellationException",
            "Future was discarded".to_string(),
        )),
    }
}

fn wrong_kind() -> Thrown {
    illegal_state("the future belongs to another operation")
}

fn get_fetch<'l>(
    env: &mut JNIEnv<'l>,
    key: jlong,
    timeout: Option<Duration>,
) -> Result<JObject<'l>> {
    let operation = operation(key)?;
    let Operation::Fetch(pending) = &*operation else {
        return Err(wrong_kind());
    };
    let variable = wait(pending, timeout)?;
    new_variable(env, variable)
}

fn get_store<'l>(
    env: &mut JNIEnv<'l>,
    key: jlong,
    timeout: Option<Duration>,
) -> Result<JObject<'l>> {
    let operation = operation(key)?;
    let Operation::Store(pending) = &*operation else {
        return Err(wrong_kind());
    };
    match wait(pending, timeout)? {
        Some(variable) => new_variable(env, variable),
        // Lost the swap: upstream yields null.
        None => Ok(JObject::null()),
    }
}

fn get_expunge<'l>(
    env: &mut JNIEnv<'l>,
    key: jlong,
    timeout: Option<Duration>,
) -> Result<JObject<'l>> {
    let operation = operation(key)?;
    let Operation::Expunge(pending) = &*operation else {
        return Err(wrong_kind());
    };
    let expunged = wait(pending, timeout)?;
    Ok(env
        .call_static_method(
            "java/lang/Boolean",
            "valueOf",
            "(Z)Ljava/lang/Boolean;",
            &[JValue::Bool(u8::from(expunged))],
        )?
        .l()?)
}

fn get_names<'l>(
    env: &mut JNIEnv<'l>,
    key: jlong,
    timeout: Option<Duration>,
) -> Result<JObject<'l>> {
    let operation = operation(key)?;
    let Operation::Names(pending) = &*operation else {
        return Err(wrong_kind());
    };
    let names = wait(pending, timeout)?;
    let list = env.new_object("java/util/ArrayList", "()V", &[])?;
    for name in names {
        let name = env.new_string(name)?;
        env.call_method(
            &list,
            "add",
            "(Ljava/lang/Object;)Z",
            &[JValue::Object(&name)],
        )?;
        env.delete_local_ref(name)?;
    }
    Ok(env
        .call_method(&list, "iterator", "()Ljava/util/Iterator;", &[])?
        .l()?)
}

type Getter = for<'l> fn(&mut JNIEnv<'l>, jlong, Option<Duration>) -> Result<JObject<'l>>;

fn get(env: &mut JNIEnv<'_>, key: jlong, getter: Getter) -> jobject {
    try_native(env, |env| getter(env, key, None).map(raw)).unwrap_or_else(std::ptr::null_mut)
}

fn get_timeout(
    env: &mut JNIEnv<'_>,
    key: jlong,
    amount: jlong,
    unit: &JObject<'_>,
    getter: Getter,
) -> jobject {
    try_native(env, |env| {
        let timeout = duration(env, amount, unit)?;
        getter(env, key, Some(timeout)).map(raw)
    })
    .unwrap_or_else(std::ptr::null_mut)
}

/// The handle of a named future (`FetchFuture.future`, ...).
fn future_key(env: &mut JNIEnv<'_>, this: &JObject<'_>) -> jlong {
    native(env, |env| long_field(env, this, "future"))
}

/// Defines the natives of one operation family: the `AbstractState`
/// `__<op>_*` methods and those of its named future class.
macro_rules! future_natives {
    (
        $getter:ident,
        $cancel:ident, $is_cancelled:ident, $is_done:ident, $get:ident, $get_timeout:ident, $finalize:ident,
        $f_cancel:ident, $f_is_cancelled:ident, $f_is_done:ident, $f_get:ident, $f_get_timeout:ident, $f_finalize:ident
    ) => {
        #[no_mangle]
        pub extern "system" fn $cancel<'l>(
            mut env: JNIEnv<'l>,
            _this: JObject<'l>,
            key: jlong,
        ) -> jboolean {
            cancel(&mut env, key, true)
        }

        #[no_mangle]
        pub extern "system" fn $is_cancelled<'l>(
            _env: JNIEnv<'l>,
            _this: JObject<'l>,
            _key: jlong,
        ) -> jboolean {
            JNI_FALSE
        }

        #[no_mangle]
        pub extern "system" fn $is_done<'l>(
            mut env: JNIEnv<'l>,
            _this: JObject<'l>,
            key: jlong,
        ) -> jboolean {
            is_done(&mut env, key)
        }

        #[no_mangle]
        pub extern "system" fn $get<'l>(
            mut env: JNIEnv<'l>,
            _this: JObject<'l>,
            key: jlong,
        ) -> jobject {
            get(&mut env, key, $getter)
        }

        #[no_mangle]
        pub extern "system" fn $get_timeout<'l>(
            mut env: JNIEnv<'l>,
            _this: JObject<'l>,
            key: jlong,
            amount: jlong,
            unit: JObject<'l>,
        ) -> jobject {
            get_timeout(&mut env, key, amount, &unit, $getter)
        }

        #[no_mangle]
        pub extern "system" fn $finalize<'l>(_env: JNIEnv<'l>, _this: JObject<'l>, key: jlong) {
            finalize_operation(key);
        }

        #[no_mangle]
        pub extern "system" fn $f_cancel<'l>(
            mut env: JNIEnv<'l>,
            this: JObject<'l>,
            may_interrupt: jboolean,
        ) -> jboolean {
            let key = future_key(&mut env, &this);
            cancel(&mut env, key, may_interrupt != JNI_FALSE)
        }

        #[no_mangle]
        pub extern "system" fn $f_is_cancelled<'l>(
            _env: JNIEnv<'l>,
            _this: JObject<'l>,
        ) -> jboolean {
            JNI_FALSE
        }

        #[no_mangle]
        pub extern "system" fn $f_is_done<'l>(mut env: JNIEnv<'l>, this: JObject<'l>) -> jboolean {
            let key = future_key(&mut env, &this);
            is_done(&mut env, key)
        }

        // `get` is overloaded, so only the long (signature-qualified) JNI
        // names may be exported: a short name would bind both overloads.
        #[no_mangle]
        pub extern "system" fn $f_get<'l>(mut env: JNIEnv<'l>, this: JObject<'l>) -> jobject {
            let key = future_key(&mut env, &this);
            get(&mut env, key, $getter)
        }

        #[no_mangle]
        pub extern "system" fn $f_get_timeout<'l>(
            mut env: JNIEnv<'l>,
            this: JObject<'l>,
            amount: jlong,
            unit: JObject<'l>,
        ) -> jobject {
            let key = future_key(&mut env, &this);
            get_timeout(&mut env, key, amount, &unit, $getter)
        }

        #[no_mangle]
        pub extern "system" fn $f_finalize<'l>(mut env: JNIEnv<'l>, this: JObject<'l>) {
            let key = future_key(&mut env, &this);
            finalize_operation(key);
        }
    };
}

future_natives!(
    get_fetch,
    Java_org_apache_mesos_state_AbstractState__1_1fetch_1cancel,
    Java_org_apache_mesos_state_AbstractState__1_1fetch_1is_1cancelled,
    Java_org_apache_mesos_state_AbstractState__1_1fetch_1is_1done,
    Java_org_apache_mesos_state_AbstractState__1_1fetch_1get,
    Java_org_apache_mesos_state_AbstractState__1_1fetch_1get_1timeout,
    Java_org_apache_mesos_state_AbstractState__1_1fetch_1finalize,
    Java_org_apache_mesos_state_AbstractState_00024FetchFuture_cancel,
    Java_org_apache_mesos_state_AbstractState_00024FetchFuture_isCancelled,
    Java_org_apache_mesos_state_AbstractState_00024FetchFuture_isDone,
    Java_org_apache_mesos_state_AbstractState_00024FetchFuture_get__,
    Java_org_apache_mesos_state_AbstractState_00024FetchFuture_get__JLjava_util_concurrent_TimeUnit_2,
    Java_org_apache_mesos_state_AbstractState_00024FetchFuture_finalize
);

future_natives!(
    get_store,
    Java_org_apache_mesos_state_AbstractState__1_1store_1cancel,
    Java_org_apache_mesos_state_AbstractState__1_1store_1is_1cancelled,
    Java_org_apache_mesos_state_AbstractState__1_1store_1is_1done,
    Java_org_apache_mesos_state_AbstractState__1_1store_1get,
    Java_org_apache_mesos_state_AbstractState__1_1store_1get_1timeout,
    Java_org_apache_mesos_state_AbstractState__1_1store_1finalize,
    Java_org_apache_mesos_state_AbstractState_00024StoreFuture_cancel,
    Java_org_apache_mesos_state_AbstractState_00024StoreFuture_isCancelled,
    Java_org_apache_mesos_state_AbstractState_00024StoreFuture_isDone,
    Java_org_apache_mesos_state_AbstractState_00024StoreFuture_get__,
    Java_org_apache_mesos_state_AbstractState_00024StoreFuture_get__JLjava_util_concurrent_TimeUnit_2,
    Java_org_apache_mesos_state_AbstractState_00024StoreFuture_finalize
);

future_natives!(
    get_expunge,
    Java_org_apache_mesos_state_AbstractState__1_1expunge_1cancel,
    Java_org_apache_mesos_state_AbstractState__1_1expunge_1is_1cancelled,
    Java_org_apache_mesos_state_AbstractState__1_1expunge_1is_1done,
    Java_org_apache_mesos_state_AbstractState__1_1expunge_1get,
    Java_org_apache_mesos_state_AbstractState__1_1expunge_1get_1timeout,
    Java_org_apache_mesos_state_AbstractState__1_1expunge_1finalize,
    Java_org_apache_mesos_state_AbstractState_00024ExpungeFuture_cancel,
    Java_org_apache_mesos_state_AbstractState_00024ExpungeFuture_isCancelled,
    Java_org_apache_mesos_state_AbstractState_00024ExpungeFuture_isDone,
    Java_org_apache_mesos_state_AbstractState_00024ExpungeFuture_get__,
    Java_org_apache_mesos_state_AbstractState_00024ExpungeFuture_get__JLjava_util_concurrent_TimeUnit_2,
    Java_org_apache_mesos_state_AbstractState_00024ExpungeFuture_finalize
);

future_natives!(
    get_names,
    Java_org_apache_mesos_state_AbstractState__1_1names_1cancel,
    Java_org_apache_mesos_state_AbstractState__1_1names_1is_1cancelled,
    Java_org_apache_mesos_state_AbstractState__1_1names_1is_1done,
    Java_org_apache_mesos_state_AbstractState__1_1names_1get,
    Java_org_apache_mesos_state_AbstractState__1_1names_1get_1timeout,
    Java_org_apache_mesos_state_AbstractState__1_1names_1finalize,
    Java_org_apache_mesos_state_AbstractState_00024NamesFuture_cancel,
    Java_org_apache_mesos_state_AbstractState_00024NamesFuture_isCancelled,
    Java_org_apache_mesos_state_AbstractState_00024NamesFuture_isDone,
    Java_org_apache_mesos_state_AbstractState_00024NamesFuture_get__,
    Java_org_apache_mesos_state_AbstractState_00024NamesFuture_get__JLjava_util_concurrent_TimeUnit_2,
    Java_org_apache_mesos_state_AbstractState_00024NamesFuture_finalize
);

// ---- Variable.

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_Variable_value<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) -> jbyteArray {
    try_native(&mut env, |env| {
        let variable = variable_of(env, &this)?;
        Ok(env.byte_array_from_slice(variable.value())?.into_raw())
    })
    .unwrap_or_else(std::ptr::null_mut)
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_Variable_mutate<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
    value: JByteArray<'l>,
) -> jobject {
    try_native(&mut env, |env| {
        let variable = variable_of(env, &this)?;
        if value.is_null() {
            return Err(Thrown::Java(
                "java/lang/NullPointerException",
                "value is null".to_string(),
            ));
        }
        let value = env.convert_byte_array(&value)?;
        new_variable(env, variable.mutate(value)).map(raw)
    })
    .unwrap_or_else(std::ptr::null_mut)
}

#[no_mangle]
pub extern "system" fn Java_org_apache_mesos_state_Variable_finalize<'l>(
    mut env: JNIEnv<'l>,
    this: JObject<'l>,
) {
    native(&mut env, |env| {
        let key = long_field(env, &this, VARIABLE_FIELD)?;
        env.set_field(&this, VARIABLE_FIELD, "J", JValue::Long(0))?;
        drop(VARIABLES.remove(key));
        Ok(())
    })
}
