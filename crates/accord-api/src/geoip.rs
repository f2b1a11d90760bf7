//! Geography from a MaxMind-format database (`ACCORD_GEOIP_DB`, §5.2): the fallback when
//! no trusted proxy sent the geo header. GeoIP2/GeoLite2 City and Country databases both
//! carry `country.iso_code` and, for City, `subdivisions[].iso_code`.
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

/// An opened `.mmdb`, held in memory.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

#[derive(Deserialize)]
struct Record {
    country: Option<Code>,
    subdivisions: Option<Vec<Code>>,
}

#[derive(Deserialize)]
struct Code {
    iso_code: Option<String>,
}

impl GeoIp {
    /// Loads the database at `path`.
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| format!("cannot open GeoIP database {}: {e}", path.display()))?;
        Ok(GeoIp { reader })
    }

    /// `CC` or `CC-SUB` (first subdivision) of `ip`, uppercased; `None` when the
    /// database does not know the address or names no country.
    pub fn geography(&self, ip: IpAddr) -> Option<String> {
        let record: Record = self
            .reader
            .lookup(ip.to_canonical())
            .ok()?
            .decode()
            .ok()??;
        let country = record.country?.iso_code?.to_ascii_uppercase();
        let sub = record
            .subdivisions
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|s| s.iso_code)
            .map(|s| s.to_ascii_uppercase());
        Some(match sub {
            Some(s) => format!("{country}-{s}"),
            None => country,
        })
    }
}
