//! The field names a `#[derive(Deserialize)]` struct reads, as serde itself knows them, so a
//! tracker's documented keys (`CONFIG_KEYS`) can be held to its options struct by a test.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Options {
//!     project: String,
//!     #[serde(rename = "token_env")]
//!     token: Option<String>,
//! }
//! assert_eq!(
//!     bugimporters_testkit::serde_fields::struct_fields::<Options>(),
//!     Some(&["project", "token_env"][..])
//! );
//! ```

use serde::de::{self, Deserialize, Visitor};

/// The names `T`'s derived `Deserialize` asks for (renames applied), or `None` when `T` is not
/// read as a struct (a map, an enum, a struct with `#[serde(flatten)]`).
pub fn struct_fields<'de, T: Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let mut found = None;
    // The capturing deserializer always fails after noting the fields: only the capture counts.
    let _ = T::deserialize(FieldCatcher { found: &mut found });
    found
}

/// A deserializer that notes the fields of the struct asked for and then refuses.
struct FieldCatcher<'a> {
    found: &'a mut Option<&'static [&'static str]>,
}

impl<'de> de::Deserializer<'de> for FieldCatcher<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.found = Some(fields);
        Err(de::Error::custom("fields noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
