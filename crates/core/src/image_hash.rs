//! Perceptual hashes of images: two pictures that look alike have hashes a few bits apart,
//! whatever their encoding, so an image generated again with the same seed can be told from
//! another picture (`verdict::redone_image`).

use image::{ImageReader, Limits};
use image_hasher::{HashAlg, HasherConfig};
use std::io::Cursor;

/// The largest picture decoded for a hash: submitted images are at most 16 MiB, but a small
/// file can claim huge dimensions.
const MAX_SIDE: u32 = 8192;
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// The 64-bit perceptual hash (a gradient hash, "dHash": whether each cell of a small grey
/// version of the picture is brighter than its neighbour) of a WebP, PNG or JPEG image; none if
/// it cannot be decoded.
pub fn perceptual_hash(bytes: &[u8]) -> Option<u64> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    let hasher = HasherConfig::new()
        .hash_size(8, 8)
        .hash_alg(HashAlg::Gradient)
        .to_hasher();
    let hash = hasher.hash_image(&picture);
    let bytes: [u8; 8] = hash.as_bytes().try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// How many of the 64 bits two hashes differ in.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    fn encoded(picture: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        picture.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    /// A picture with shapes: rings around a point, over a gradient.
    fn picture() -> RgbImage {
        RgbImage::from_fn(128, 128, |x, y| {
            let (dx, dy) = (x as f32 - 40.0, y as f32 - 70.0);
            let ring = ((dx * dx + dy * dy).sqrt() / 12.0) as u32 % 2;
            Rgb([
                (ring * 200 + x / 4) as u8,
                (y * 2) as u8,
                (ring * 120) as u8,
            ])
        })
    }

    #[test]
    fn the_same_picture_in_another_encoding_hashes_alike() {
        let picture = picture();
        let png = perceptual_hash(&encoded(&picture, ImageFormat::Png)).unwrap();
        let jpeg = perceptual_hash(&encoded(&picture, ImageFormat::Jpeg)).unwrap();
        assert!(distance(png, jpeg) <= 4, "{}", distance(png, jpeg));
    }

    #[test]
    fn noise_hashes_far_from_a_picture() {
        let picture = perceptual_hash(&encoded(&picture(), ImageFormat::Png)).unwrap();
        let mut state = 12345_u32;
        let noise = RgbImage::from_fn(128, 128, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            Rgb([(state >> 16) as u8, (state >> 8) as u8, state as u8])
        });
        let noise = perceptual_hash(&encoded(&noise, ImageFormat::Png)).unwrap();
        assert!(
            distance(picture, noise) > 16,
            "{}",
            distance(picture, noise)
        );
    }

    #[test]
    fn what_is_not_an_image_has_no_hash() {
        assert_eq!(perceptual_hash(b"RIFF\0\0\0\0WEBPVP8 "), None);
        assert_eq!(perceptual_hash(b""), None);
    }
}
