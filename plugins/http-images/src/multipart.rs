//! A `multipart/form-data` body (RFC 7578), for OpenAI's `/images/edits`.

/// A form being built.
#[derive(Debug)]
pub struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Form {
    /// An empty form with a boundary that cannot occur in its parts (hex of a hash of
    /// the time; checked again at the end).
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let hash = blake3::hash(&nanos.to_le_bytes()).to_hex();
        Form {
            boundary: format!("maia-{}", &hash[..32]),
            body: Vec::new(),
        }
    }

    fn head(&mut self, disposition: &str, content_type: Option<&str>) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body
            .extend_from_slice(b"\r\nContent-Disposition: form-data; ");
        self.body.extend_from_slice(disposition.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            self.body.extend_from_slice(b"Content-Type: ");
            self.body.extend_from_slice(ct.as_bytes());
            self.body.extend_from_slice(b"\r\n");
        }
        self.body.extend_from_slice(b"\r\n");
    }

    /// Adds a text field.
    pub fn text(&mut self, name: &str, value: &str) {
        self.head(&format!("name=\"{}\"", escape(name)), None);
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
    }

    /// Adds a file field.
    pub fn file(&mut self, name: &str, file_name: &str, content_type: &str, bytes: &[u8]) {
        self.head(
            &format!(
                "name=\"{}\"; filename=\"{}\"",
                escape(name),
                escape(file_name)
            ),
            Some(content_type),
        );
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
    }

    /// The `Content-Type` header value and the body.
    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body.extend_from_slice(b"--\r\n");
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

impl Default for Form {
    fn default() -> Self {
        Self::new()
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_framed_by_the_boundary() {
        let mut form = Form::new();
        form.text("prompt", "make it \"red\"");
        form.file("image", "image.png", "image/png", &[0x89, b'P', 0, 255]);
        let (ct, body) = form.finish();
        let boundary = ct.split("boundary=").nth(1).expect("boundary");
        let text = String::from_utf8_lossy(&body);
        assert_eq!(text.matches(&format!("--{boundary}")).count(), 3);
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert!(
            text.contains(
                "name=\"image\"; filename=\"image.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
        );
        assert!(body.windows(4).any(|w| w == [0x89, b'P', 0, 255]));
    }
}
