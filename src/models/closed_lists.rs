//! The schemas of values checked against a closed list: the list itself, as
//! an `enum`, taken from the same source the check uses, so that the spec
//! names exactly what the server accepts.

use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::values::{CountryCode, ISO_3166_ALPHA2, TimeZoneName};

fn string_enum<'a>(
    description: &str,
    example: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([example])
        .enum_values(Some(values))
        .into()
}

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "IANA time zone name (as the server's time zone database knows them)",
            "Asia/Almaty",
            chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()),
        )
    }
}

impl ToSchema for TimeZoneName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimeZoneName")
    }
}

impl PartialSchema for CountryCode {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "ISO 3166-1 alpha-2 country code, upper case (`XK` for Kosovo is accepted; \
             lower case is accepted and stored upper case)",
            "KZ",
            ISO_3166_ALPHA2.split(' '),
        )
    }
}

impl ToSchema for CountryCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CountryCode")
    }
}
