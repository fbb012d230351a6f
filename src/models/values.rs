//! Value types that can only hold valid values: once a request is parsed into
//! them, the rest of the code does not validate again.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;
use uuid::Uuid;

/// Declares a string newtype whose constructor checks `$check`, serialized as a plain string.
macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, |$s:ident| $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from($s: String) -> Result<Self, String> {
                let checked: Result<String, String> = $check;
                checked.map(Self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn matches_slug(s: &str, max: usize, extra: char) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || (extra == '-' && c.is_ascii_digit()));
    first_ok
        && s.len() <= max
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == extra)
}

/// Text that is not blank: what `str::trim` leaves something of. The
/// schemas say so with the pattern `[^…]` of one character outside Rust's
/// `White_Space` (`\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000`),
/// spelled out because regex dialects disagree on `\s`.
fn bounded(s: String, what: &str, max: usize) -> Result<String, String> {
    let len = s.chars().count();
    if s.trim().is_empty() {
        Err(format!("{what} must not be empty"))
    } else if len > max {
        Err(format!(
            "{what} must be at most {max} characters (got {len})"
        ))
    } else {
        Ok(s)
    }
}

checked_string!(
    /// Slug of an event type: lowercase letters, digits and `_`, starting with a letter.
    #[derive(ToSchema)]
    #[schema(value_type = String, example = "military_deployment", pattern = "^[a-z][a-z0-9_]{0,63}$")]
    EventTypeSlug,
    |s| if matches_slug(&s, 64, '_') {
        Ok(s)
    } else {
        Err(format!("`{s}` is not an event type slug (lowercase letters, digits and `_`, starting with a letter, at most 64)"))
    }
);

checked_string!(
    /// Slug of a timeline: lowercase letters, digits and `-`.
    #[derive(ToSchema)]
    #[schema(value_type = String, example = "kazakhstan-2022-unrest", pattern = "^[a-z0-9][a-z0-9-]{0,99}$")]
    TimelineSlug,
    |s| if matches_slug(&s, 100, '-') {
        Ok(s)
    } else {
        Err(format!("`{s}` is not a timeline slug (lowercase letters, digits and `-`, at most 100)"))
    }
);

checked_string!(
    /// ISO 3166-1 alpha-2 country code (upper case; `XK` for Kosovo is accepted).
    /// Its schema, the list itself, is in `closed_lists`.
    CountryCode,
    |s| {
        let upper = s.to_ascii_uppercase();
        if upper.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|code| code == upper) {
            Ok(upper)
        } else {
            Err(format!("`{s}` is not an ISO 3166-1 alpha-2 country code"))
        }
    }
);

checked_string!(
    /// IANA time zone name. Its schema, every name, is in `closed_lists`.
    TimeZoneName,
    |s| match s.parse::<chrono_tz::Tz>() {
        Ok(_) => Ok(s),
        Err(_) => Err(format!("`{s}` is not an IANA time zone name such as `Asia/Almaty`")),
    }
);

impl TimeZoneName {
    pub fn tz(&self) -> chrono_tz::Tz {
        // The constructor only admits names chrono-tz parses.
        self.0.parse().unwrap_or(chrono_tz::UTC)
    }
}

checked_string!(
    /// BCP 47 language tag.
    #[derive(ToSchema)]
    #[schema(value_type = String, example = "de")]
    LanguageTag,
    |s| match language_tags::LanguageTag::parse(&s) {
        Ok(_) => Ok(s),
        Err(_) => Err(format!("`{s}` is not a BCP 47 language tag such as `de` or `en-GB`")),
    }
);

checked_string!(
    /// Event title, 1 to 300 characters.
    #[derive(ToSchema)]
    #[schema(value_type = String, min_length = 1, max_length = 300, pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    Title,
    |s| bounded(s, "title", 300)
);

checked_string!(
    /// Caller-chosen unique id, so that an importer can re-send an event without duplicating it.
    #[derive(ToSchema)]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]", example = "kz-2022-almaty-deaths-night")]
    ExternalId,
    |s| bounded(s, "external_id", 200)
);

checked_string!(
    /// Short free-form label; `,` and `;` are reserved as list separators.
    #[derive(ToSchema)]
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = r"^[^,;]*[^,;\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^,;]*$", example = "almaty")]
    Tag,
    |s| {
        let s = bounded(s, "tag", 64)?;
        if s.contains([',', ';']) {
            Err(format!("tag `{s}` must not contain `,` or `;`"))
        } else {
            Ok(s)
        }
    }
);

checked_string!(
    /// Name of an actor (person, organization, state), 1 to 200 characters.
    #[derive(ToSchema)]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]", example = "Saltanat Azirbek")]
    ActorName,
    |s| bounded(s.trim().to_owned(), "actor name", 200)
);

checked_string!(
    /// Absolute URI of a source (usually `https://…`).
    #[derive(ToSchema)]
    #[schema(value_type = String, example = "https://www.example.org/news/kazakhstan-live")]
    SourceUrl,
    |s| {
        let s = bounded(s, "url", 2000)?;
        let scheme_ok = s
            .split_once(':')
            .is_some_and(|(scheme, rest)| {
                !rest.is_empty()
                    && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
        if scheme_ok && !s.contains(char::is_whitespace) {
            Ok(s)
        } else {
            Err(format!("`{s}` is not an absolute URI"))
        }
    }
);

checked_string!(
    /// Full-text search input (`q=`), in web search syntax: words, `"quoted phrases"`, `-excluded`, `or`.
    #[derive(ToSchema)]
    #[schema(value_type = String, min_length = 1, max_length = 500, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$", example = "almaty police")]
    SearchText,
    |s| {
        let s = bounded(s.trim().to_owned(), "the search text", 500)?;
        if s.contains(char::is_control) {
            Err("the search text must not contain control characters".to_owned())
        } else {
            Ok(s)
        }
    }
);

/// A bounding box `min_lon,min_lat,max_lon,max_lat` in degrees (RFC 7946 order).
/// `min_lon > max_lon` is a box across the antimeridian (RFC 7946, section 5.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BBox {
    pub fn crosses_antimeridian(&self) -> bool {
        self.min_lon > self.max_lon
    }

    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let lon_inside = if self.crosses_antimeridian() {
            lon >= self.min_lon || lon <= self.max_lon
        } else {
            (self.min_lon..=self.max_lon).contains(&lon)
        };
        lon_inside && (self.min_lat..=self.max_lat).contains(&lat)
    }
}

impl std::str::FromStr for BBox {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const FORM: &str = "must be min_lon,min_lat,max_lon,max_lat in degrees";
        let numbers = s
            .split(',')
            .map(|n| n.trim().parse::<f64>().ok().filter(|n| n.is_finite()))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| format!("`{s}` {FORM}"))?;
        let [min_lon, min_lat, max_lon, max_lat] = numbers[..] else {
            return Err(format!("`{s}` {FORM} (four numbers)"));
        };
        let lon_ok = |lon: f64| (-180.0..=180.0).contains(&lon);
        let lat_ok = |lat: f64| (-90.0..=90.0).contains(&lat);
        if !(lon_ok(min_lon) && lon_ok(max_lon)) {
            return Err(format!("`{s}`: longitudes must be between -180 and 180"));
        }
        if !(lat_ok(min_lat) && lat_ok(max_lat)) {
            return Err(format!("`{s}`: latitudes must be between -90 and 90"));
        }
        if min_lat > max_lat {
            return Err(format!("`{s}`: min_lat must not be greater than max_lat"));
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }
}

/// Server-assigned event id (UUID v7, so ids sort by creation time).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid, example = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01")]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::str::FromStr for EventId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| format!("`{s}` is not a UUID"))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

pub(crate) const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_the_iso_list() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 250); // 249 + XK
        assert_eq!("kz".parse::<CountryCode>().unwrap().as_str(), "KZ");
        assert!("XX".parse::<CountryCode>().is_err());
        assert!("KAZ".parse::<CountryCode>().is_err());
    }

    #[test]
    fn slugs_reject_uppercase_and_spaces() {
        assert!("armed_clash".parse::<EventTypeSlug>().is_ok());
        assert!("Armed".parse::<EventTypeSlug>().is_err());
        assert!("kazakhstan-2022-unrest".parse::<TimelineSlug>().is_ok());
        assert!("a b".parse::<TimelineSlug>().is_err());
    }

    #[test]
    fn time_zones_and_languages_are_checked() {
        assert!("Asia/Almaty".parse::<TimeZoneName>().is_ok());
        assert!("Mars/Olympus".parse::<TimeZoneName>().is_err());
        assert!("de".parse::<LanguageTag>().is_ok());
        assert!("not a tag".parse::<LanguageTag>().is_err());
    }

    #[test]
    fn bboxes_are_four_finite_numbers_in_range() {
        let bbox: BBox = "76.5, 43, 77.5,43.5".parse().unwrap();
        assert!(bbox.contains(76.8897, 43.2389));
        assert!(bbox.contains(76.5, 43.0), "edges are inside");
        assert!(!bbox.contains(78.0, 43.2));
        for bad in [
            "1,2,3",
            "1,2,3,4,5",
            "a,1,2,3",
            "NaN,1,2,3",
            "inf,1,2,3",
            "-181,0,0,1",
            "0,-91,1,1",
            "0,10,1,5",
            "",
        ] {
            assert!(bad.parse::<BBox>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bbox_may_cross_the_antimeridian() {
        let bbox: BBox = "170,-20,-170,20".parse().unwrap();
        assert!(bbox.crosses_antimeridian());
        assert!(bbox.contains(179.0, 0.0) && bbox.contains(-175.0, 0.0));
        assert!(!bbox.contains(0.0, 0.0));
    }

    #[test]
    fn urls_need_a_scheme() {
        assert!("https://example.org/a".parse::<SourceUrl>().is_ok());
        assert!("urn:chronik:seed:article".parse::<SourceUrl>().is_ok());
        assert!("example.org/a".parse::<SourceUrl>().is_err());
        assert!("https://exa mple.org".parse::<SourceUrl>().is_err());
    }
}
