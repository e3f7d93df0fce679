//! The EXIF fields Trove keeps, read from the TIFF structure of an EXIF block (what JPEG's
//! APP1 segment, PNG's `eXIf` chunk and WebP's `EXIF` chunk hold, after any `Exif\0\0`
//! header): camera make and model, date taken (`DateTimeOriginal`, else `DateTime`),
//! orientation, and the GPS position in decimal degrees. Every offset is bounds-checked and
//! every directory is read at most once, so a damaged block yields fewer fields, never a panic
//! or a loop.

/// The EXIF fields of one image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exif {
    /// `Make`.
    pub make: Option<String>,
    /// `Model`.
    pub model: Option<String>,
    /// `DateTimeOriginal` (else `DateTime`) as RFC 3339 without a zone: `2024-05-01T12:30:00`.
    pub taken: Option<String>,
    /// `Orientation`, 1 to 8.
    pub orientation: Option<u16>,
    /// Latitude in degrees, south negative.
    pub latitude: Option<f64>,
    /// Longitude in degrees, west negative.
    pub longitude: Option<f64>,
}

/// A TIFF structure and its byte order.
struct Tiff<'a> {
    data: &'a [u8],
    little: bool,
}

/// One directory entry: tag, type, count and where its value is.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    /// The offset of the value: inline in the entry when it fits in 4 bytes.
    at: usize,
}

impl<'a> Tiff<'a> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.data.get(at..at + 2)?;
        Some(if self.little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.data.get(at..at + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    /// The entries of the directory at `offset`.
    fn directory(&self, offset: usize) -> Vec<Entry> {
        let Some(n) = self.u16(offset) else { return Vec::new() };
        (0..n as usize)
            .filter_map(|i| {
                let e = offset + 2 + i * 12;
                let (tag, kind, count) = (self.u16(e)?, self.u16(e + 2)?, self.u32(e + 4)?);
                let size = match kind {
                    1 | 2 | 7 => 1,
                    3 => 2,
                    4 | 9 => 4,
                    5 | 10 => 8,
                    _ => return None,
                };
                let total = (count as usize).checked_mul(size)?;
                let at = if total <= 4 { e + 8 } else { self.u32(e + 8)? as usize };
                self.data.get(at..at.checked_add(total)?)?;
                Some(Entry { tag, kind, count, at })
            })
            .collect()
    }

    fn ascii(&self, e: &Entry) -> Option<String> {
        if e.kind != 2 {
            return None;
        }
        let bytes = self.data.get(e.at..e.at + e.count as usize)?;
        let text: String = String::from_utf8_lossy(bytes).trim_end_matches('\0').trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    fn short(&self, e: &Entry) -> Option<u16> {
        match e.kind {
            3 => self.u16(e.at),
            4 => self.u32(e.at).and_then(|v| u16::try_from(v).ok()),
            _ => None,
        }
    }

    fn long(&self, e: &Entry) -> Option<usize> {
        match e.kind {
            4 => self.u32(e.at).map(|v| v as usize),
            3 => self.u16(e.at).map(usize::from),
            _ => None,
        }
    }

    /// Degrees from three unsigned rationals (degrees, minutes, seconds).
    fn degrees(&self, e: &Entry) -> Option<f64> {
        if e.kind != 5 || e.count < 3 {
            return None;
        }
        let mut parts = [0f64; 3];
        for (i, part) in parts.iter_mut().enumerate() {
            let (n, d) = (self.u32(e.at + i * 8)?, self.u32(e.at + i * 8 + 4)?);
            if d == 0 {
                return None;
            }
            *part = f64::from(n) / f64::from(d);
        }
        let value = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0;
        value.is_finite().then_some(value)
    }
}

/// The EXIF date format `YYYY:MM:DD HH:MM:SS` as `YYYY-MM-DDTHH:MM:SS`; `None` otherwise.
fn exif_date(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 19
        && digits(0..4)
        && b[4] == b':'
        && digits(5..7)
        && b[7] == b':'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape || text.starts_with("0000") {
        return None;
    }
    Some(format!("{}-{}-{}T{}", &text[0..4], &text[5..7], &text[8..10], &text[11..19]))
}

/// Parses an EXIF block (with or without its `Exif\0\0` header). Unknown or damaged parts
/// are skipped.
pub fn parse(block: &[u8]) -> Exif {
    let data = block.strip_prefix(b"Exif\0\0").unwrap_or(block);
    let little = match data.get(0..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Exif::default(),
    };
    let tiff = Tiff { data, little };
    let mut out = Exif::default();
    let Some(ifd0) = tiff.u32(4).map(|o| o as usize) else { return out };
    let (mut exif_ifd, mut gps_ifd, mut date_time) = (None, None, None);
    for e in tiff.directory(ifd0) {
        match e.tag {
            0x010F => out.make = tiff.ascii(&e),
            0x0110 => out.model = tiff.ascii(&e),
            0x0112 => out.orientation = tiff.short(&e).filter(|o| (1..=8).contains(o)),
            0x0132 => date_time = tiff.ascii(&e),
            0x8769 => exif_ifd = tiff.long(&e).filter(|&o| o != ifd0),
            0x8825 => gps_ifd = tiff.long(&e).filter(|&o| o != ifd0),
            _ => {}
        }
    }
    if let Some(offset) = exif_ifd {
        for e in tiff.directory(offset) {
            if e.tag == 0x9003 {
                out.taken = tiff.ascii(&e).as_deref().and_then(exif_date);
            }
        }
    }
    if out.taken.is_none() {
        out.taken = date_time.as_deref().and_then(exif_date);
    }
    if let Some(offset) = gps_ifd.filter(|o| Some(*o) != exif_ifd) {
        let (mut lat_ref, mut lon_ref, mut lat, mut lon) = (None, None, None, None);
        for e in tiff.directory(offset) {
            match e.tag {
                1 => lat_ref = tiff.ascii(&e),
                2 => lat = tiff.degrees(&e),
                3 => lon_ref = tiff.ascii(&e),
                4 => lon = tiff.degrees(&e),
                _ => {}
            }
        }
        let sign = |r: Option<String>, negative: &str| if r.as_deref() == Some(negative) { -1.0 } else { 1.0 };
        out.latitude = lat.filter(|v| *v <= 90.0).map(|v| v * sign(lat_ref, "S"));
        out.longitude = lon.filter(|v| *v <= 180.0).map(|v| v * sign(lon_ref, "W"));
    }
    out
}

/// Writes EXIF blocks for tests: little-endian TIFF with IFD0 (make, model, orientation), an
/// EXIF directory (date taken) and a GPS directory.
#[cfg(any(test, feature = "testing"))]
pub(crate) mod write {
    /// One EXIF block with the `Exif\0\0` header, as a JPEG APP1 segment carries it.
    pub(crate) fn block(
        make: &str,
        model: &str,
        orientation: u16,
        taken: &str,
        lat: (f64, char),
        lon: (f64, char),
    ) -> Vec<u8> {
        // Layout: header 8 | IFD0 (5 entries) | EXIF IFD (1) | GPS IFD (4) | data.
        let ifd0 = 8usize;
        let exif = ifd0 + 2 + 5 * 12 + 4;
        let gps = exif + 2 + 12 + 4;
        let mut data_at = gps + 2 + 4 * 12 + 4;
        let mut t = vec![0u8; data_at];
        t[0..4].copy_from_slice(b"II*\0");
        t[4..8].copy_from_slice(&(ifd0 as u32).to_le_bytes());
        let mut extra: Vec<u8> = Vec::new();
        let put_entry = |t: &mut Vec<u8>, at: usize, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
            t[at..at + 2].copy_from_slice(&tag.to_le_bytes());
            t[at + 2..at + 4].copy_from_slice(&kind.to_le_bytes());
            t[at + 4..at + 8].copy_from_slice(&count.to_le_bytes());
            t[at + 8..at + 12].copy_from_slice(&value);
        };
        let mut out_of_line = |bytes: &[u8]| -> [u8; 4] {
            let at = data_at;
            extra.extend_from_slice(bytes);
            data_at += bytes.len();
            (at as u32).to_le_bytes()
        };
        let ascii = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            b.push(0);
            b
        };
        let rationals = |deg: f64| {
            let (d, rest) = (deg.trunc(), deg.fract() * 60.0);
            let (m, s) = (rest.trunc(), rest.fract() * 60.0);
            let mut b = Vec::new();
            for (n, den) in [(d as u32, 1u32), (m as u32, 1), ((s * 1000.0).round() as u32, 1000)] {
                b.extend_from_slice(&n.to_le_bytes());
                b.extend_from_slice(&den.to_le_bytes());
            }
            b
        };
        let (make_b, model_b, taken_b) = (ascii(make), ascii(model), ascii(taken));
        let v_make = out_of_line(&make_b);
        let v_model = out_of_line(&model_b);
        let v_taken = out_of_line(&taken_b);
        let v_lat = out_of_line(&rationals(lat.0));
        let v_lon = out_of_line(&rationals(lon.0));
        t[ifd0..ifd0 + 2].copy_from_slice(&5u16.to_le_bytes());
        let mut o = [0u8; 4];
        o[..2].copy_from_slice(&orientation.to_le_bytes());
        put_entry(&mut t, ifd0 + 2, 0x010F, 2, make_b.len() as u32, v_make);
        put_entry(&mut t, ifd0 + 14, 0x0110, 2, model_b.len() as u32, v_model);
        put_entry(&mut t, ifd0 + 26, 0x0112, 3, 1, o);
        put_entry(&mut t, ifd0 + 38, 0x8769, 4, 1, (exif as u32).to_le_bytes());
        put_entry(&mut t, ifd0 + 50, 0x8825, 4, 1, (gps as u32).to_le_bytes());
        t[exif..exif + 2].copy_from_slice(&1u16.to_le_bytes());
        put_entry(&mut t, exif + 2, 0x9003, 2, taken_b.len() as u32, v_taken);
        t[gps..gps + 2].copy_from_slice(&4u16.to_le_bytes());
        put_entry(&mut t, gps + 2, 1, 2, 2, [lat.1 as u8, 0, 0, 0]);
        put_entry(&mut t, gps + 14, 2, 5, 3, v_lat);
        put_entry(&mut t, gps + 26, 3, 2, 2, [lon.1 as u8, 0, 0, 0]);
        put_entry(&mut t, gps + 38, 4, 5, 3, v_lon);
        t.extend_from_slice(&extra);
        let mut block = b"Exif\0\0".to_vec();
        block.extend_from_slice(&t);
        block
    }

    /// A JPEG with `exif` spliced in as an APP1 segment right after its SOI marker.
    pub(crate) fn jpeg_with(jpeg: &[u8], exif: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(exif);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_a_camera_writes() {
        let block = write::block("Canon", "EOS 5D", 6, "2023:07:14 09:26:53", (48.8584, 'N'), (2.2945, 'W'));
        let exif = parse(&block);
        assert_eq!(exif.make.as_deref(), Some("Canon"));
        assert_eq!(exif.model.as_deref(), Some("EOS 5D"));
        assert_eq!(exif.orientation, Some(6));
        assert_eq!(exif.taken.as_deref(), Some("2023-07-14T09:26:53"));
        assert!((exif.latitude.unwrap() - 48.8584).abs() < 1e-5, "{exif:?}");
        assert!((exif.longitude.unwrap() + 2.2945).abs() < 1e-5, "west is negative: {exif:?}");
    }

    #[test]
    fn damaged_blocks_give_fewer_fields_never_a_panic() {
        let block = write::block("Canon", "EOS 5D", 6, "2023:07:14 09:26:53", (10.0, 'S'), (20.0, 'E'));
        assert_eq!(parse(&block).latitude, Some(-10.0));
        for cut in 0..block.len() {
            let _ = parse(&block[..cut]);
        }
        let mut flipped = block.clone();
        for i in (6..flipped.len()).step_by(7) {
            flipped[i] ^= 0xA5;
            let _ = parse(&flipped);
        }
        assert_eq!(parse(b"not exif"), Exif::default());
        assert_eq!(exif_date("0000:00:00 00:00:00"), None);
        assert_eq!(exif_date("2023-07-14"), None);
    }
}
