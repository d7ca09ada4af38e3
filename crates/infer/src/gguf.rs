//! Reads GGUF files (llama.cpp's format, versions 2 and 3): the metadata and where each tensor's
//! bytes are. Nothing is copied; tensors are slices of the file.
//!
//! Every length and offset is checked against the file, so a damaged or hostile file gives an
//! error, never a panic or a huge allocation.

use std::collections::HashMap;

use crate::error::{invalid, unsupported, Result};
use crate::quant::WeightType;
use crate::tensors::TensorView;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    String(String),
    Array(Vec<MetaValue>),
}

impl MetaValue {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::Unsigned(v) => Some(v),
            MetaValue::Signed(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::Float(v) => Some(v),
            MetaValue::Unsigned(v) => Some(v as f64),
            MetaValue::Signed(v) => Some(v as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// A parsed GGUF file, borrowing its bytes.
pub struct Gguf<'a> {
    pub metadata: HashMap<String, MetaValue>,
    pub tensors: Vec<TensorView<'a>>,
}

impl<'a> Gguf<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(invalid("not a GGUF file (no GGUF magic)"));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(unsupported(format!("GGUF version {version}")));
        }
        let tensor_count = r.count()?;
        let kv_count = r.count()?;
        let mut metadata = HashMap::new();
        for _ in 0..kv_count {
            let key = r.string()?;
            let ty = r.u32()?;
            metadata.insert(key, r.value(ty, 0)?);
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(MetaValue::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT);
        if alignment == 0 || alignment % 8 != 0 {
            return Err(invalid(format!("GGUF alignment {alignment}")));
        }

        let mut infos = Vec::new();
        for _ in 0..tensor_count {
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims == 0 || n_dims > 4 {
                return Err(invalid(format!("tensor {name} has {n_dims} dimensions")));
            }
            let mut shape = Vec::new();
            for _ in 0..n_dims {
                shape.push(usize::try_from(r.u64()?).map_err(|_| invalid("tensor too large"))?);
            }
            // GGUF lists the fastest-moving dimension first; we use row-major order.
            shape.reverse();
            let ty = WeightType::from_ggml(r.u32()?)
                .map_err(|e| invalid(format!("tensor {name}: {e}")))?;
            let offset = r.u64()?;
            infos.push((name, shape, ty, offset));
        }
        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;

        let mut tensors = Vec::with_capacity(infos.len());
        for (name, shape, ty, offset) in infos {
            let elements = shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| invalid(format!("tensor {name} is too large")))?;
            let size = ty.size_of(elements)? as u64;
            let start = data_start
                .checked_add(offset)
                .filter(|start| {
                    start
                        .checked_add(size)
                        .is_some_and(|end| end <= bytes.len() as u64)
                })
                .ok_or_else(|| invalid(format!("tensor {name} lies outside the file")))?;
            let data = &bytes[start as usize..(start + size) as usize];
            tensors.push(TensorView {
                name,
                ty,
                shape,
                data,
            });
        }
        Ok(Gguf { metadata, tensors })
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| invalid("GGUF file ends early"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().unwrap())
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items that follow, each at least one byte: more than the bytes left is a lie.
    fn count(&mut self) -> Result<usize> {
        let n = self.u64()?;
        if n > (self.bytes.len() - self.pos) as u64 {
            return Err(invalid("GGUF count larger than the file"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.count()?;
        let bytes = self.take(len)?;
        // Token lists hold the odd invalid byte sequence; keep them rather than fail.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<MetaValue> {
        Ok(match ty {
            0 => MetaValue::Unsigned(u64::from(self.array::<1>()?[0])),
            1 => MetaValue::Signed(i64::from(self.array::<1>()?[0] as i8)),
            2 => MetaValue::Unsigned(u64::from(u16::from_le_bytes(self.array()?))),
            3 => MetaValue::Signed(i64::from(i16::from_le_bytes(self.array()?))),
            4 => MetaValue::Unsigned(u64::from(self.u32()?)),
            5 => MetaValue::Signed(i64::from(i32::from_le_bytes(self.array()?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.array()?))),
            7 => MetaValue::Bool(self.array::<1>()?[0] != 0),
            8 => MetaValue::String(self.string()?),
            9 => {
                if depth > 2 {
                    return Err(invalid("GGUF arrays nested too deeply"));
                }
                let item_ty = self.u32()?;
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::Unsigned(self.u64()?),
            11 => MetaValue::Signed(i64::from_le_bytes(self.array()?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(invalid(format!("GGUF metadata type {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Vec<u8> {
        [
            (s.len() as u64).to_le_bytes().to_vec(),
            s.as_bytes().to_vec(),
        ]
        .concat()
    }

    /// A GGUF v3 file with one metadata string and one f32 tensor of shape [2, 3].
    fn tiny_file() -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(1u64.to_le_bytes()); // tensors
        f.extend(1u64.to_le_bytes()); // metadata
        f.extend(string("general.architecture"));
        f.extend(8u32.to_le_bytes());
        f.extend(string("llama"));
        f.extend(string("w"));
        f.extend(2u32.to_le_bytes());
        f.extend(3u64.to_le_bytes());
        f.extend(2u64.to_le_bytes());
        f.extend(0u32.to_le_bytes()); // f32
        f.extend(0u64.to_le_bytes());
        f.resize(f.len().div_ceil(32) * 32, 0);
        for v in 0..6 {
            f.extend((v as f32).to_le_bytes());
        }
        f
    }

    #[test]
    fn reads_metadata_and_tensors() {
        let bytes = tiny_file();
        let gguf = Gguf::parse(&bytes).unwrap();
        assert_eq!(
            gguf.get("general.architecture").and_then(MetaValue::as_str),
            Some("llama")
        );
        let w = &gguf.tensors[0];
        assert_eq!(
            (w.name.as_str(), w.shape.as_slice(), w.ty),
            ("w", &[2, 3][..], WeightType::F32)
        );
        assert_eq!(&w.data[4..8], &1f32.to_le_bytes());
    }

    #[test]
    fn truncated_or_damaged_files_are_errors() {
        let bytes = tiny_file();
        for len in [0, 3, 10, 30, 60, bytes.len() - 1] {
            assert!(Gguf::parse(&bytes[..len]).is_err(), "length {len}");
        }
        let mut huge_count = bytes.clone();
        huge_count[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Gguf::parse(&huge_count).is_err());
        assert!(Gguf::parse(b"GGML\x03\0\0\0").is_err());
    }
}
