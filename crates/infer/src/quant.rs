//! The weight formats: how their bytes are laid out in model files, how they decode to f32 on
//! the CPU (for the reference implementation and for tests), and how they are laid out for the
//! kernels.
//!
//! Quantised GGUF blocks are not 4-byte aligned (a q8_0 block is 34 bytes), which WGSL cannot
//! read directly. At load the blocks are split, not decoded: all scales of a matrix first, then
//! all quant bytes, each 4-byte aligned. The buffer holds the same bytes as the file; the kernels
//! dequantise as they read (see `shaders/weights_*.wgsl`).

use half::{bf16, f16};

use crate::error::{invalid, unsupported, Result};

/// Elements per quantisation block. Every matrix the kernels read has a multiple of this many
/// columns, whatever its type, so that one kernel shape serves all types.
pub const BLOCK: usize = 32;

/// How one tensor's elements are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightType {
    F32,
    F16,
    BF16,
    /// 32 signed bytes and one f16 scale `d`: x = d·q.
    Q8_0,
    /// 32 four-bit values and one f16 scale `d`: x = d·(q − 8).
    Q4_0,
    /// 32 four-bit values, an f16 scale `d` and an f16 minimum `m`: x = d·q + m.
    Q4_1,
}

impl WeightType {
    pub const ALL: [WeightType; 6] = [
        WeightType::F32,
        WeightType::F16,
        WeightType::BF16,
        WeightType::Q8_0,
        WeightType::Q4_0,
        WeightType::Q4_1,
    ];

    /// The type of a GGML type id, as GGUF stores it.
    pub fn from_ggml(id: u32) -> Result<WeightType> {
        Ok(match id {
            0 => WeightType::F32,
            1 => WeightType::F16,
            2 => WeightType::Q4_0,
            3 => WeightType::Q4_1,
            8 => WeightType::Q8_0,
            30 => WeightType::BF16,
            other => return Err(unsupported(format!("GGML tensor type {other}"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            WeightType::F32 => "f32",
            WeightType::F16 => "f16",
            WeightType::BF16 => "bf16",
            WeightType::Q8_0 => "q8_0",
            WeightType::Q4_0 => "q4_0",
            WeightType::Q4_1 => "q4_1",
        }
    }

    /// Elements per storage unit (1 for the float types).
    pub fn block_elements(self) -> usize {
        match self {
            WeightType::F32 | WeightType::F16 | WeightType::BF16 => 1,
            WeightType::Q8_0 | WeightType::Q4_0 | WeightType::Q4_1 => BLOCK,
        }
    }

    /// Bytes per storage unit in a model file.
    pub fn block_bytes(self) -> usize {
        match self {
            WeightType::F32 => 4,
            WeightType::F16 | WeightType::BF16 => 2,
            WeightType::Q8_0 => 34,
            WeightType::Q4_0 => 18,
            WeightType::Q4_1 => 20,
        }
    }

    /// Bytes that `elements` elements take in a model file.
    pub fn size_of(self, elements: usize) -> Result<usize> {
        if !elements.is_multiple_of(self.block_elements()) {
            return Err(invalid(format!(
                "{} elements do not fill whole {} blocks",
                elements,
                self.name()
            )));
        }
        Ok(elements / self.block_elements() * self.block_bytes())
    }
}

/// Decodes `bytes` (whole blocks, as a model file stores them) to f32.
pub fn dequantize(ty: WeightType, bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / ty.block_bytes() * ty.block_elements());
    let f16_at = |b: &[u8], i: usize| f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
    for block in bytes.chunks_exact(ty.block_bytes()) {
        match ty {
            WeightType::F32 => out.push(f32::from_le_bytes(block.try_into().unwrap())),
            WeightType::F16 => out.push(f16_at(block, 0)),
            WeightType::BF16 => out.push(bf16::from_le_bytes([block[0], block[1]]).to_f32()),
            WeightType::Q8_0 => {
                let d = f16_at(block, 0);
                out.extend(block[2..].iter().map(|&q| d * f32::from(q as i8)));
            }
            WeightType::Q4_0 | WeightType::Q4_1 => {
                let d = f16_at(block, 0);
                let (m, qs, offset) = match ty {
                    WeightType::Q4_0 => (0.0, &block[2..], -8.0),
                    _ => (f16_at(block, 2), &block[4..], 0.0),
                };
                out.extend(qs.iter().map(|&q| d * (f32::from(q & 0x0f) + offset) + m));
                out.extend(qs.iter().map(|&q| d * (f32::from(q >> 4) + offset) + m));
            }
        }
    }
    out
}

/// A matrix's bytes rearranged for the kernels, and where its parts start.
pub struct PackedMatrix {
    /// The buffer's contents, a whole number of 4-byte words.
    pub words: Vec<u32>,
    /// The word at which the quant bytes start (after the scales); 0 for the float types.
    pub quants_offset: u32,
}

/// Rearranges one matrix of `rows` × `cols` (row-major, as a model file stores it) for the
/// kernels. Several matrices with the same type and column count can be given at once: their
/// rows are concatenated (q, k and v become one matrix, so do gate and up), which lets one
/// dispatch read them all.
pub fn pack_rows(ty: WeightType, cols: usize, parts: &[&[u8]]) -> Result<PackedMatrix> {
    if !cols.is_multiple_of(BLOCK) {
        return Err(unsupported(format!(
            "a matrix with {cols} columns (the kernels need a multiple of {BLOCK})"
        )));
    }
    let row_bytes = ty.size_of(cols)?;
    for part in parts {
        if !part.len().is_multiple_of(row_bytes) {
            return Err(invalid("a matrix's size is not a whole number of rows"));
        }
    }
    let all = || {
        parts
            .iter()
            .flat_map(|part| part.chunks_exact(ty.block_bytes()))
    };
    let le_words = |bytes: &[u8]| {
        bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect::<Vec<_>>()
    };
    let packed = match ty {
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => PackedMatrix {
            words: le_words(&parts.concat()),
            quants_offset: 0,
        },
        WeightType::Q8_0 | WeightType::Q4_0 | WeightType::Q4_1 => {
            // Scale bytes per block (d, or d and m) and where the quants start in a block.
            let (scale_bytes, quants_start) = match ty {
                WeightType::Q4_1 => (4, 4),
                _ => (2, 2),
            };
            let mut scales: Vec<u8> = all().flat_map(|b| &b[..scale_bytes]).copied().collect();
            scales.resize(scales.len().div_ceil(4) * 4, 0);
            let quants: Vec<u8> = all().flat_map(|b| &b[quants_start..]).copied().collect();
            let mut words = le_words(&scales);
            let quants_offset = words.len() as u32;
            words.extend(le_words(&quants));
            PackedMatrix {
                words,
                quants_offset,
            }
        }
    };
    Ok(packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q8_block(d: f32, qs: [i8; 32]) -> Vec<u8> {
        let mut b = f16::from_f32(d).to_le_bytes().to_vec();
        b.extend(qs.iter().map(|&q| q as u8));
        b
    }

    #[test]
    fn q8_0_decodes_scale_times_value() {
        let mut qs = [0i8; 32];
        qs[0] = -128;
        qs[31] = 127;
        qs[5] = 3;
        let out = dequantize(WeightType::Q8_0, &q8_block(0.5, qs));
        assert_eq!(out.len(), 32);
        assert_eq!((out[0], out[5], out[31], out[1]), (-64.0, 1.5, 63.5, 0.0));
    }

    #[test]
    fn q4_blocks_put_low_nibbles_first() {
        let mut block = f16::from_f32(2.0).to_le_bytes().to_vec();
        block.push(0x1f); // element 0 = 0xf, element 16 = 0x1
        block.extend([0u8; 15]);
        let q4_0 = dequantize(WeightType::Q4_0, &block);
        assert_eq!((q4_0[0], q4_0[16], q4_0[1]), (14.0, -14.0, -16.0));

        let mut block = f16::from_f32(2.0).to_le_bytes().to_vec();
        block.extend(f16::from_f32(-1.0).to_le_bytes());
        block.push(0x1f);
        block.extend([0u8; 15]);
        let q4_1 = dequantize(WeightType::Q4_1, &block);
        assert_eq!((q4_1[0], q4_1[16], q4_1[1]), (29.0, 1.0, -1.0));
    }

    #[test]
    fn packing_separates_scales_from_quants() {
        let rows: Vec<u8> = [q8_block(1.0, [1; 32]), q8_block(2.0, [2; 32])].concat();
        let packed = pack_rows(WeightType::Q8_0, 32, &[&rows[..34], &rows[34..]]).unwrap();
        // Two f16 scales share the first word; the 64 quant bytes follow as 16 words.
        assert_eq!(packed.quants_offset, 1);
        assert_eq!(packed.words.len(), 17);
        assert_eq!(
            packed.words[0] & 0xffff,
            u32::from(f16::from_f32(1.0).to_bits())
        );
        assert_eq!(
            packed.words[0] >> 16,
            u32::from(f16::from_f32(2.0).to_bits())
        );
        assert_eq!(packed.words[1], 0x0101_0101);
        assert_eq!(packed.words[16], 0x0202_0202);
    }

    #[test]
    fn packing_refuses_columns_the_kernels_cannot_read() {
        assert!(pack_rows(WeightType::F32, 40, &[&[0u8; 160]]).is_err());
        assert!(pack_rows(WeightType::F16, 32, &[&[0u8; 63]]).is_err());
    }
}
