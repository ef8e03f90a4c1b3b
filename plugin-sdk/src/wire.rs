//! The byte format of values crossing the native plugin boundary: a JSON header followed
//! by raw binary blobs (PNG bytes), so images are never inflated into JSON arrays.
//!
//! Layout: `b"MAIW"`, `u8` format version, `u32` header length, header (JSON), `u32` blob
//! count, then per blob a `u64` length and its bytes. Integers are little-endian.

use crate::{Image, ImageId, ToolOutput};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::fmt;

const MAGIC: &[u8; 4] = b"MAIW";
const FORMAT: u8 = 1;

/// A frame that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed plugin message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// Encodes a JSON-serializable header and binary blobs into one frame.
pub fn encode<H: Serialize>(header: &H, blobs: &[&[u8]]) -> Vec<u8> {
    // Serializing our own plain data types cannot fail; fall back to `null` defensively.
    let json = serde_json::to_vec(header).unwrap_or_else(|_| b"null".to_vec());
    let blob_bytes: usize = blobs.iter().map(|b| b.len() + 8).sum();
    let mut out = Vec::with_capacity(4 + 1 + 4 + json.len() + 4 + blob_bytes);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for blob in blobs {
        out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        out.extend_from_slice(blob);
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                WireError(format!(
                    "frame ends at byte {}, needed {} more",
                    self.bytes.len(),
                    n
                ))
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Decodes a frame into its header and blobs.
pub fn decode<H: DeserializeOwned>(bytes: &[u8]) -> Result<(H, Vec<Vec<u8>>), WireError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(WireError("bad magic (not a maia wire frame)".into()));
    }
    let format = r.take(1)?[0];
    if format != FORMAT {
        return Err(WireError(format!(
            "wire format {format}, expected {FORMAT}"
        )));
    }
    let json_len = r.u32()? as usize;
    let header =
        serde_json::from_slice(r.take(json_len)?).map_err(|e| WireError(format!("header: {e}")))?;
    let count = r.u32()? as usize;
    let mut blobs = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = usize::try_from(r.u64()?).map_err(|_| WireError("blob too large".into()))?;
        blobs.push(r.take(len)?.to_vec());
    }
    if r.at != bytes.len() {
        return Err(WireError(format!("{} trailing bytes", bytes.len() - r.at)));
    }
    Ok((header, blobs))
}

#[derive(Serialize, Deserialize)]
struct ImageHeader {
    id: ImageId,
    caption: String,
    meta: Value,
}

#[derive(Serialize, Deserialize)]
struct OutputHeader {
    text: String,
    data: Value,
    images: Vec<ImageHeader>,
}

fn header_of(image: &Image) -> ImageHeader {
    ImageHeader {
        id: image.id.clone(),
        caption: image.caption.clone(),
        meta: image.meta.clone(),
    }
}

fn images_from(headers: Vec<ImageHeader>, blobs: Vec<Vec<u8>>) -> Result<Vec<Image>, WireError> {
    if headers.len() != blobs.len() {
        return Err(WireError(format!(
            "{} images but {} blobs",
            headers.len(),
            blobs.len()
        )));
    }
    Ok(headers
        .into_iter()
        .zip(blobs)
        .map(|(h, png)| Image {
            id: h.id,
            png,
            caption: h.caption,
            meta: h.meta,
        })
        .collect())
}

/// Encodes a tool output.
pub fn encode_output(output: &ToolOutput) -> Vec<u8> {
    let header = OutputHeader {
        text: output.text.clone(),
        data: output.data.clone(),
        images: output.images.iter().map(header_of).collect(),
    };
    let blobs: Vec<&[u8]> = output.images.iter().map(|i| i.png.as_slice()).collect();
    encode(&header, &blobs)
}

/// Decodes a tool output.
pub fn decode_output(bytes: &[u8]) -> Result<ToolOutput, WireError> {
    let (header, blobs): (OutputHeader, _) = decode(bytes)?;
    Ok(ToolOutput {
        text: header.text,
        data: header.data,
        images: images_from(header.images, blobs)?,
    })
}

/// Encodes one image.
pub fn encode_image(image: &Image) -> Vec<u8> {
    encode(&header_of(image), &[image.png.as_slice()])
}

/// Decodes one image.
pub fn decode_image(bytes: &[u8]) -> Result<Image, WireError> {
    let (header, blobs): (ImageHeader, _) = decode(bytes)?;
    images_from(vec![header], blobs)?
        .pop()
        .ok_or_else(|| WireError("no image in frame".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_round_trips_with_binary_blobs() {
        let out = ToolOutput::text("two images")
            .with_image(Image::new(vec![0, 1, 2, 255], "a").with_meta(json!({"k": 1})))
            .with_image(Image::new(vec![], "empty"))
            .with_data(json!([1, 2]));
        let bytes = encode_output(&out);
        assert_eq!(decode_output(&bytes), Ok(out));
    }

    #[test]
    fn truncated_and_corrupt_frames_are_errors_not_panics() {
        let bytes = encode_output(&ToolOutput::text("x").with_image(Image::new(vec![7; 100], "c")));
        for cut in 0..bytes.len() {
            assert!(decode_output(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(decode_output(&bad).unwrap_err().0.contains("magic"));
        let mut long = bytes;
        long.push(0);
        assert!(decode_output(&long).unwrap_err().0.contains("trailing"));
    }

    #[test]
    fn image_round_trips() {
        let mut img = Image::new(vec![9; 10], "cap");
        img.id = ImageId::from("img_3");
        assert_eq!(decode_image(&encode_image(&img)), Ok(img));
    }
}
