//! Schema-only types for query parameters that the server reads as text and
//! parses itself (`crate::filter` and its neighbours): name them as a
//! parameter's `value_type`, so that the spec says exactly what the parser
//! accepts, where JSON Schema can say it. No value of them is ever built.

use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// Free text in a query string: not blank (see `crate::models::values`),
/// and without control characters (`crate::control_chars` refuses them in URLs).
/// Parameters of such text name it as their `pattern`.
pub const QUERY_TEXT: &str = r"^[^\u0000-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F]*$";

/// Declares a schema-only type named `$name` in the spec.
macro_rules! schema_only {
    ($(#[$meta:meta])* $name:ident, $schema:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

schema_only!(
    /// `from`, `to`: a date (`YYYY-MM-DD`) or an RFC 3339 date-time.
    DateOrDateTime,
    {
        let format = |f| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(f)))
        };
        AnyOfBuilder::new()
            .description(Some(
                "A date, `YYYY-MM-DD` (read in `tz`), or an RFC 3339 date-time with offset",
            ))
            .item(format(KnownFormat::Date))
            .item(format(KnownFormat::DateTime))
            .into()
    }
);

schema_only!(
    /// `bbox`: `min_lon,min_lat,max_lon,max_lat` in degrees.
    BoundingBox,
    {
        let degrees = |max: f64| {
            Schema::from(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(-max))
                    .maximum(Some(max)),
            )
        };
        ArrayBuilder::new()
            .description(Some(
                "`min_lon,min_lat,max_lon,max_lat` in degrees; `min_lat` not greater than `max_lat`",
            ))
            .prefix_items([degrees(180.0), degrees(90.0), degrees(180.0), degrees(90.0)])
            .items(ArrayItems::False)
            .min_items(Some(4))
            .max_items(Some(4))
            .into()
    }
);

schema_only!(
    /// One tag of the `tag` filter: a `Tag` in a query string.
    TagFilter,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(r"^[^\u0000-\u001F\u007F,;]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000,;][^\u0000-\u001F\u007F,;]*$"))
        .into()
);
