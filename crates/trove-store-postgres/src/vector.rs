//! pgvector's `vector` type in its binary wire format (a 16-bit dimension, 16 unused bits, then
//! big-endian 32-bit floats), so vectors cross the wire without being printed as text.

use bytes::{BufMut, BytesMut};
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// A vector parameter or column.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector(pub Vec<f32>);

/// A borrowed vector parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorRef<'a>(pub &'a [f32]);

fn is_vector(ty: &Type) -> bool {
    ty.name() == "vector"
}

impl ToSql for VectorRef<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let dim =
            u16::try_from(self.0.len()).map_err(|_| format!("a vector of {} dimensions is too long", self.0.len()))?;
        out.reserve(4 + self.0.len() * 4);
        out.put_u16(dim);
        out.put_u16(0);
        for x in self.0 {
            out.put_f32(*x);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        is_vector(ty)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Vector {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Vector, Box<dyn std::error::Error + Sync + Send>> {
        if raw.len() < 4 {
            return Err("a vector value shorter than its header".into());
        }
        let dim = u16::from_be_bytes([raw[0], raw[1]]) as usize;
        let body = &raw[4..];
        if body.len() != dim * 4 {
            return Err(format!("a vector of {dim} dimensions with {} bytes of values", body.len()).into());
        }
        Ok(Vector(body.chunks_exact(4).map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect()))
    }

    fn accepts(ty: &Type) -> bool {
        is_vector(ty)
    }
}
