//! The wire protocol between `maia host serve` and its clients (see the [module
//! docs](super) for the picture): frames, messages, and the codecs for images and maps.
//!
//! Everything here is plain data and sync code, shared by the async server and the
//! blocking [`RemoteModel`](crate::target::RemoteModel) client.

use super::{ServerToken, Stats};
use crate::target::{ModelInfo, TargetError, UnitMap, UnitRef};
use maia_plugin_sdk::{Image, ImageId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;

/// The protocol this build speaks. Peers with another `major` refuse each other with a
/// message naming both versions; a higher `minor` only adds messages or optional fields.
///
/// 1.1 added tokens (`token_required` in the server's hello, `token` in the client's) and
/// the server's `ready` answer to a client hello of 1.1 or later.
pub const PROTOCOL_VERSION: Version = Version { major: 1, minor: 1 };

/// The first version whose server answers an accepted client hello with `ready`.
pub const READY_SINCE: Version = Version { major: 1, minor: 1 };

/// What the server's hello calls the service, so a client that reached some other program
/// on the port says so instead of failing on garbage.
pub const SERVICE: &str = "maia-host";

/// The largest JSON header either side accepts.
pub const MAX_HEADER_BYTES: u32 = 16 << 20;

/// The largest request frame the server accepts; bigger requests are answered with an
/// error (the connection survives). Clients split big requests well below this.
pub const MAX_REQUEST_BYTES: u32 = 1 << 30;

/// A protocol version, written `MAJOR.MINOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    /// Incompatible changes bump this.
    pub major: u16,
    /// Compatible additions bump this.
    pub minor: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a frame or message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A frame breaks the framing rules (lengths that do not add up, a header over the limit).
    #[error("malformed frame: {0}")]
    Frame(String),
    /// The JSON header is not a message this side understands.
    #[error("unreadable message: {0}")]
    Message(String),
}

/// One frame: a JSON header and the binary blob it describes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// UTF-8 JSON.
    pub header: Vec<u8>,
    /// The concatenated binary parts (PNG files, f32 maps); empty for most messages.
    pub blob: Vec<u8>,
}

impl Frame {
    /// The header parsed as a message.
    pub fn message<T: DeserializeOwned>(&self) -> Result<T, ProtocolError> {
        serde_json::from_slice(&self.header).map_err(|e| ProtocolError::Message(e.to_string()))
    }

    /// The `id` field of the header, if it has one: lets a peer answer a request it could
    /// not parse.
    pub fn request_id(&self) -> Option<u64> {
        request_id(&self.header)
    }
}

/// The `id` of a JSON header, if any.
pub fn request_id(header: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(header)
        .ok()?
        .get("id")?
        .as_u64()
}

/// Encodes a frame: `header` as JSON, then `blob_len` bytes that `fill` appends.
pub fn encode_frame(
    header: &impl Serialize,
    blob_len: usize,
    fill: impl FnOnce(&mut Vec<u8>),
) -> Result<Vec<u8>, ProtocolError> {
    let json = serde_json::to_vec(header).map_err(|e| ProtocolError::Message(e.to_string()))?;
    let body_len = 4 + json.len() + blob_len;
    let body_len_u32 = u32::try_from(body_len).map_err(|_| {
        ProtocolError::Frame(format!(
            "a message of {body_len} bytes does not fit a frame (at most 4 GiB); send fewer images per request"
        ))
    })?;
    let header_len = u32::try_from(json.len())
        .ok()
        .filter(|&n| n <= MAX_HEADER_BYTES)
        .ok_or_else(|| {
            ProtocolError::Frame(format!(
                "a header of {} bytes is over the limit of {MAX_HEADER_BYTES}",
                json.len()
            ))
        })?;
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&body_len_u32.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&json);
    fill(&mut out);
    if out.len() != 4 + body_len {
        return Err(ProtocolError::Frame(format!(
            "blob of {} bytes announced as {blob_len}",
            out.len() - 4 - 4 - json.len()
        )));
    }
    Ok(out)
}

/// Encodes a frame with no blob.
pub fn encode_message(header: &impl Serialize) -> Result<Vec<u8>, ProtocolError> {
    encode_frame(header, 0, |_| {})
}

/// Splits a frame body (everything after the length prefix) into header and blob.
pub fn split_body(mut body: Vec<u8>) -> Result<Frame, ProtocolError> {
    if body.len() < 4 {
        return Err(ProtocolError::Frame(format!(
            "a body of {} bytes has no header length",
            body.len()
        )));
    }
    let header_len = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
    if header_len > MAX_HEADER_BYTES || header_len as usize > body.len() - 4 {
        return Err(ProtocolError::Frame(format!(
            "header length {header_len} does not fit a body of {} bytes",
            body.len()
        )));
    }
    let blob = body.split_off(4 + header_len as usize);
    body.drain(..4);
    Ok(Frame { header: body, blob })
}

/// Reads one frame from a blocking stream; `Ok(None)` at a clean end of stream.
pub fn read_frame(reader: &mut impl Read, max_bytes: u32) -> Result<Option<Frame>, ProtocolError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match reader.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > max_bytes {
        return Err(ProtocolError::Frame(format!(
            "a frame of {len} bytes is over the limit of {max_bytes}"
        )));
    }
    // Grow with the data rather than trusting the length for one big allocation.
    let mut body = Vec::with_capacity((len as usize).min(1 << 20));
    reader.take(u64::from(len)).read_to_end(&mut body)?;
    if body.len() != len as usize {
        return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    split_body(body).map(Some)
}

/// A client's message to the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// First message of every connection, after the server's hello.
    Hello {
        /// The client's protocol version.
        protocol: Version,
        /// Free text naming the client (`maia 0.1.0`).
        client: String,
        /// The host's shared token, sent only when its hello says `token_required` (1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<ServerToken>,
    },
    /// Maps of `units` of `layer` on the images in the blob.
    Activations {
        /// Chosen by the client; the answer carries it back.
        id: u64,
        /// Layer name.
        layer: String,
        /// Unit indices; the answer has one map per image per entry, in this order.
        units: Vec<usize>,
        /// One entry per image; the PNG files follow in the blob in this order.
        images: Vec<ImageHeader>,
    },
    /// The host's counters.
    Stats {
        /// Chosen by the client.
        id: u64,
    },
    /// A unit's ground-truth description, when the model knows it.
    GroundTruth {
        /// Chosen by the client.
        id: u64,
        /// The unit.
        unit: UnitRef,
    },
}

/// An image in an activations request; its PNG is `png_bytes` bytes of the blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageHeader {
    /// Store id (may be empty).
    #[serde(default)]
    pub id: String,
    /// Caption.
    #[serde(default)]
    pub caption: String,
    /// Metadata (synthetic units read the scene graph here).
    #[serde(default)]
    pub meta: serde_json::Value,
    /// Length of its PNG in the blob.
    pub png_bytes: u64,
}

/// What the host sends first on every connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerHello {
    /// Always [`SERVICE`].
    pub service: String,
    /// The server's protocol version.
    pub protocol: Version,
    /// The maia version of the server.
    pub server: String,
    /// The model it serves.
    pub model: ModelInfo,
    /// The model's [`fingerprint`](crate::target::TargetModel::fingerprint), so clients
    /// share caches with local runs of the same model.
    pub fingerprint: String,
    /// The client must send the host's token in its hello (1.1; absent means false).
    #[serde(default)]
    pub token_required: bool,
}

/// The host's message to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// First message of every connection.
    Hello(ServerHello),
    /// The client's hello was accepted (its version fits, its token matches): requests may
    /// follow. Sent only to clients of [`READY_SINCE`] or later.
    Ready,
    /// Maps for an activations request: f32 little-endian values in the blob, image by
    /// image, unit by unit, each map row-major.
    Activations {
        /// The request's id.
        id: u64,
        /// `[width, height]` of each map: `maps[image][i]` for `units[i]`.
        maps: Vec<Vec<[u32; 2]>>,
    },
    /// A request failed; `id` is absent when the failure is about the connection, which the
    /// server then closes.
    Error {
        /// The request's id.
        #[serde(default)]
        id: Option<u64>,
        /// What kind of failure.
        kind: ErrorKind,
        /// What failed and what to do.
        message: String,
    },
    /// The host's counters.
    Stats {
        /// The request's id.
        id: u64,
        /// Counters since the host started.
        stats: Stats,
    },
    /// Answer to a ground-truth request.
    GroundTruth {
        /// The request's id.
        id: u64,
        /// The description, if the model knows one.
        description: Option<String>,
    },
}

impl Response {
    /// The request this answers.
    pub fn id(&self) -> Option<u64> {
        match self {
            Response::Hello(_) | Response::Ready => None,
            Response::Activations { id, .. }
            | Response::Stats { id, .. }
            | Response::GroundTruth { id, .. } => Some(*id),
            Response::Error { id, .. } => *id,
        }
    }
}

/// The kind of a failed request, mirroring [`TargetError`] plus protocol failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`TargetError::Spec`].
    Spec,
    /// [`TargetError::Unit`]: a layer or unit the model lacks.
    Unit,
    /// [`TargetError::Input`]: an image the model cannot take.
    Input,
    /// [`TargetError::Compute`]: the model failed.
    Compute,
    /// The request itself was malformed or not understood.
    Protocol,
    /// The client's token is missing or does not match the host's (1.1).
    Auth,
}

impl ErrorKind {
    /// The kind of a target error.
    pub fn of(error: &TargetError) -> ErrorKind {
        match error {
            TargetError::Spec(_) => ErrorKind::Spec,
            TargetError::Unit(_) => ErrorKind::Unit,
            TargetError::Input(_) => ErrorKind::Input,
            TargetError::Compute(_) => ErrorKind::Compute,
        }
    }

    /// The target error a client reports for this kind.
    pub fn into_target_error(self, message: String) -> TargetError {
        match self {
            ErrorKind::Spec => TargetError::Spec(message),
            ErrorKind::Unit => TargetError::Unit(message),
            ErrorKind::Input => TargetError::Input(message),
            ErrorKind::Compute | ErrorKind::Protocol => TargetError::Compute(message),
            ErrorKind::Auth => TargetError::Spec(message),
        }
    }
}

/// A copy of a target error (it is not `Clone`: real errors may carry sources one day).
pub fn copy_error(error: &TargetError) -> TargetError {
    ErrorKind::of(error).into_target_error(error.to_string())
}

/// Encodes an error answer.
pub fn error_frame(id: Option<u64>, kind: ErrorKind, message: String) -> Vec<u8> {
    let message = Response::Error { id, kind, message };
    // An error message always encodes; fall back to a bare frame if it somehow does not.
    encode_message(&message).unwrap_or_default()
}

/// Encodes an activations request for `images`.
pub fn encode_activations_request(
    id: u64,
    layer: &str,
    units: &[usize],
    images: &[&Image],
) -> Result<Vec<u8>, ProtocolError> {
    let headers: Vec<ImageHeader> = images
        .iter()
        .map(|image| ImageHeader {
            id: image.id.to_string(),
            caption: image.caption.clone(),
            meta: image.meta.clone(),
            png_bytes: image.png.len() as u64,
        })
        .collect();
    let blob_len = images.iter().map(|i| i.png.len()).sum();
    let request = Request::Activations {
        id,
        layer: layer.to_owned(),
        units: units.to_vec(),
        images: headers,
    };
    encode_frame(&request, blob_len, |out| {
        for image in images {
            out.extend_from_slice(&image.png);
        }
    })
}

/// The images of an activations request, with their PNGs cut from the blob.
pub fn decode_images(headers: Vec<ImageHeader>, blob: &[u8]) -> Result<Vec<Image>, ProtocolError> {
    let total: u64 = headers.iter().map(|h| h.png_bytes).sum();
    if total != blob.len() as u64 {
        return Err(ProtocolError::Message(format!(
            "the images announce {total} PNG bytes but the frame carries {}",
            blob.len()
        )));
    }
    let mut at = 0usize;
    Ok(headers
        .into_iter()
        .map(|h| {
            // `total` matched the blob, so every slice is in bounds.
            let len = h.png_bytes as usize;
            let png = blob[at..at + len].to_vec();
            at += len;
            Image {
                id: ImageId(h.id),
                png,
                caption: h.caption,
                meta: h.meta,
            }
        })
        .collect())
}

/// Encodes the answer to activations request `id`.
pub fn encode_activations_response(
    id: u64,
    maps: &[Vec<UnitMap>],
) -> Result<Vec<u8>, ProtocolError> {
    let dims: Vec<Vec<[u32; 2]>> = maps
        .iter()
        .map(|per_unit| per_unit.iter().map(|m| [m.width, m.height]).collect())
        .collect();
    for map in maps.iter().flatten() {
        if map.values.len() as u64 != u64::from(map.width) * u64::from(map.height) {
            return Err(ProtocolError::Frame(format!(
                "the model returned a {}×{} map with {} values",
                map.width,
                map.height,
                map.values.len()
            )));
        }
    }
    let blob_len = maps.iter().flatten().map(|m| m.values.len() * 4).sum();
    encode_frame(&Response::Activations { id, maps: dims }, blob_len, |out| {
        for map in maps.iter().flatten() {
            for v in &map.values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    })
}

/// The maps of an activations answer.
pub fn decode_maps(
    dims: &[Vec<[u32; 2]>],
    blob: &[u8],
) -> Result<Vec<Vec<UnitMap>>, ProtocolError> {
    let total: u64 = dims
        .iter()
        .flatten()
        .map(|[w, h]| u64::from(*w) * u64::from(*h) * 4)
        .sum();
    if total != blob.len() as u64 {
        return Err(ProtocolError::Message(format!(
            "the maps announce {total} bytes but the frame carries {}",
            blob.len()
        )));
    }
    let mut values = blob
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    Ok(dims
        .iter()
        .map(|per_unit| {
            per_unit
                .iter()
                .map(|&[width, height]| UnitMap {
                    width,
                    height,
                    values: values
                        .by_ref()
                        .take(width as usize * height as usize)
                        .collect(),
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(bytes: &[u8]) -> Frame {
        read_frame(&mut &bytes[..], u32::MAX)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no frame"))
    }

    #[test]
    fn images_and_maps_survive_the_wire() {
        let a = Image::new(vec![1, 2, 3], "a").with_meta(serde_json::json!({"scene": {"x": 1}}));
        let mut b = Image::new(vec![9; 10], "b");
        b.id = "img_2".into();
        let bytes = encode_activations_request(7, "layer3", &[4, 2], &[&a, &b])
            .unwrap_or_else(|e| panic!("{e}"));
        let frame = roundtrip(&bytes);
        assert_eq!(frame.request_id(), Some(7));
        let Request::Activations { images, units, .. } =
            frame.message().unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("not an activations request")
        };
        assert_eq!(units, [4, 2]);
        let images = decode_images(images, &frame.blob).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(images, [a, b]);

        let maps = vec![
            vec![UnitMap {
                width: 2,
                height: 1,
                values: vec![0.5, -1.0],
            }],
            vec![UnitMap {
                width: 1,
                height: 1,
                values: vec![f32::MAX],
            }],
        ];
        let frame =
            roundtrip(&encode_activations_response(7, &maps).unwrap_or_else(|e| panic!("{e}")));
        let Response::Activations { id, maps: dims } =
            frame.message().unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("not activations")
        };
        assert_eq!(id, 7);
        assert_eq!(
            decode_maps(&dims, &frame.blob).unwrap_or_else(|e| panic!("{e}")),
            maps
        );
    }

    #[test]
    fn broken_frames_are_errors_not_panics() {
        // Header length past the body, a truncated frame, lengths that disagree with blobs.
        let mut bad = 8u32.to_le_bytes().to_vec();
        bad.extend_from_slice(&100u32.to_le_bytes());
        bad.extend_from_slice(b"{}{}");
        assert!(read_frame(&mut &bad[..], u32::MAX).is_err());
        assert!(read_frame(&mut &bad[..6], u32::MAX).is_err());
        assert!(read_frame(&mut &bad[..], 4).is_err());
        assert!(matches!(read_frame(&mut &[][..], u32::MAX), Ok(None)));
        let header = ImageHeader {
            id: String::new(),
            caption: String::new(),
            meta: serde_json::Value::Null,
            png_bytes: 5,
        };
        assert!(decode_images(vec![header], &[1, 2]).is_err());
        assert!(decode_maps(&[vec![[2, 2]]], &[0; 12]).is_err());
    }
}
