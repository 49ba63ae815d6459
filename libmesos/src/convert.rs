//! Conversions between Java objects and Rust values: protobuf messages as
//! bytes, `java.util.Collection`s, strings, `Protos.Status`, and class
//! lookup through a saved class loader.

use jni::objects::{GlobalRef, JByteArray, JClass, JObject, JString, JValue};
use jni::sys::jobject;
use jni::JNIEnv;
use mesos_driver::Status;

/// A failed conversion or JNI call.
#[derive(Debug)]
pub enum Failure {
    /// A JNI call failed; a Java exception may be pending.
    Jni(jni::errors::Error),
    /// Bytes from Java did not decode as the expected message.
    Decode(String),
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Jni(e) => write!(f, "JNI call failed: {e}"),
            Failure::Decode(e) => write!(f, "{e}"),
        }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Turns a failure of a native method into a Java exception (unless one is
/// already pending) and yields `null` for the method's result.
pub fn fail(env: &mut JNIEnv<'_>, failure: Failure) -> jobject {
    if !env.exception_check().unwrap_or(false) {
        let _ = env.throw_new("java/lang/IllegalArgumentException", failure.to_string());
    }
    JObject::null().into_raw()
}

/// `obj.toByteArray()` decoded as `M`.
pub fn from_java<M: prost::Message + Default>(
    env: &mut JNIEnv<'_>,
    obj: &JObject<'_>,
) -> Result<M> {
    if obj.is_null() {
        return Err(Failure::Decode(format!(
            "null where a {} was expected",
            std::any::type_name::<M>()
        )));
    }
    let bytes = env.call_method(obj, "toByteArray", "()[B", &[])?.l()?;
    let bytes = env.convert_byte_array(JByteArray::from(bytes))?;
    M::decode(bytes.as_slice()).map_err(|e| {
        Failure::Decode(format!(
            "invalid {} from Java: {e}",
            std::any::type_name::<M>()
        ))
    })
}

/// The elements of a `java.util.Collection`, in iteration order.
pub fn collection<'l>(env: &mut JNIEnv<'l>, coll: &JObject<'_>) -> Result<Vec<JObject<'l>>> {
    let mut out = Vec::new();
    if coll.is_null() {
        return Ok(out);
    }
    let iterator = env
        .call_method(coll, "iterator", "()Ljava/util/Iterator;", &[])?
        .l()?;
    while env.call_method(&iterator, "hasNext", "()Z", &[])?.z()? {
        out.push(
            env.call_method(&iterator, "next", "()Ljava/lang/Object;", &[])?
                .l()?,
        );
    }
    Ok(out)
}

/// A collection of protobuf objects, decoded.
pub fn messages<M: prost::Message + Default>(
    env: &mut JNIEnv<'_>,
    coll: &JObject<'_>,
) -> Result<Vec<M>> {
    let items = collection(env, coll)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(from_java(env, &item)?);
        env.delete_local_ref(item)?;
    }
    Ok(out)
}

pub fn string(env: &mut JNIEnv<'_>, obj: &JObject<'_>) -> Result<String> {
    if obj.is_null() {
        return Ok(String::new());
    }
    let s = JString::from(env.new_local_ref(obj)?);
    let value: String = env.get_string(&s)?.into();
    Ok(value)
}

/// A collection of `String`s.
pub fn strings(env: &mut JNIEnv<'_>, coll: &JObject<'_>) -> Result<Vec<String>> {
    let items = collection(env, coll)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(string(env, &item)?);
    }
    Ok(out)
}

pub fn bytes(env: &mut JNIEnv<'_>, array: &JByteArray<'_>) -> Result<Vec<u8>> {
    if array.is_null() {
        return Ok(Vec::new());
    }
    Ok(env.convert_byte_array(array)?)
}

/// `Protos.Status.valueOf(status)`, for a native method's result.
pub fn status(env: &mut JNIEnv<'_>, status: Status) -> jobject {
    match env
        .call_static_method(
            "org/apache/mesos/Protos$Status",
            "valueOf",
            "(I)Lorg/apache/mesos/Protos$Status;",
            &[JValue::Int(status as i32)],
        )
        .and_then(|s| s.l())
    {
        Ok(s) => s.into_raw(),
        Err(e) => fail(env, e.into()),
    }
}

/// A field of `obj` that older jars may lack: `None` (with the
/// `NoSuchFieldError` cleared) when it does not exist.
pub fn probe_field<'l>(
    env: &mut JNIEnv<'l>,
    obj: &JObject<'_>,
    name: &str,
    sig: &str,
) -> Result<Option<jni::objects::JValueOwned<'l>>> {
    let class = env.get_object_class(obj)?;
    if env.get_field_id(&class, name, sig).is_err() {
        env.exception_clear()?;
        return Ok(None);
    }
    Ok(Some(env.get_field(obj, name, sig)?))
}

/// A class by its binary name (`org.apache.mesos.Protos$Offer`) through
/// `loader`, so that callback threads see the framework's classes.
pub fn load_class<'l>(env: &mut JNIEnv<'l>, loader: &GlobalRef, name: &str) -> Result<JClass<'l>> {
    let jname = env.new_string(name)?;
    let class = env
        .call_method(
            loader.as_obj(),
            "loadClass",
            "(Ljava/lang/String;)Ljava/lang/Class;",
            &[JValue::Object(&jname)],
        )?
        .l()?;
    Ok(JClass::from(class))
}

/// A Java protobuf object of class `org.apache.mesos.Protos$<name>` built
/// with its static `parseFrom(byte[])`.
pub fn to_java<'l, M: prost::Message>(
    env: &mut JNIEnv<'l>,
    loader: &GlobalRef,
    name: &str,
    message: &M,
) -> Result<JObject<'l>> {
    to_java_class(
        env,
        loader,
        &format!("org.apache.mesos.Protos${name}"),
        message,
    )
}

/// A Java protobuf object of the class with binary name `class_name`
/// (`org.apache.mesos.v1.scheduler.Protos$Event`), built with its static
/// `parseFrom(byte[])`.
pub fn to_java_class<'l, M: prost::Message>(
    env: &mut JNIEnv<'l>,
    loader: &GlobalRef,
    class_name: &str,
    message: &M,
) -> Result<JObject<'l>> {
    let class = load_class(env, loader, class_name)?;
    let bytes = env.byte_array_from_slice(&message.encode_to_vec())?;
    let sig = format!("([B)L{};", class_name.replace('.', "/"));
    let obj = env
        .call_static_method(&class, "parseFrom", sig, &[JValue::Object(&bytes)])?
        .l()?;
    env.delete_local_ref(bytes)?;
    env.delete_local_ref(class)?;
    Ok(obj)
}

/// The loader callbacks use: the one that loaded `obj`'s class, else the
/// context loader saved when the library was loaded.
pub fn loader_for(env: &mut JNIEnv<'_>, obj: &JObject<'_>) -> Result<GlobalRef> {
    let class = env.get_object_class(obj)?;
    let loader = env
        .call_method(&class, "getClassLoader", "()Ljava/lang/ClassLoader;", &[])?
        .l()?;
    if !loader.is_null() {
        return Ok(env.new_global_ref(&loader)?);
    }
    match crate::CONTEXT_LOADER.get() {
        Some(loader) => Ok(loader.clone()),
        None => {
            let system = env
                .call_static_method(
                    "java/lang/ClassLoader",
                    "getSystemClassLoader",
                    "()Ljava/lang/ClassLoader;",
                    &[],
                )?
                .l()?;
            Ok(env.new_global_ref(&system)?)
        }
    }
}
