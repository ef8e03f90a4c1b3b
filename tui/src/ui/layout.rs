//! Where each pane goes: transcript on the left, images on the right (hidden on narrow
//! terminals), the note input line when open, and the status bar at the bottom.

use ratatui::layout::Rect;

/// Narrower terminals get no image pane.
pub const MIN_WIDTH_FOR_IMAGES: u16 = 60;
/// Below this the screen only says it is too small.
pub const MIN_SIZE: (u16, u16) = (20, 6);

/// The screen cut into panes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// Transcript pane (with its border).
    pub transcript: Rect,
    /// Image pane (with its border), when shown.
    pub images: Option<Rect>,
    /// The note input line, when open.
    pub input: Option<Rect>,
    /// The status bar (one line).
    pub status: Rect,
}

/// Whether `area` is too small to draw the panes.
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1
}

/// Cuts `area` into panes. The image pane takes two fifths of the width (28 to 96
/// columns).
pub fn split(area: Rect, images: bool, input: bool) -> Areas {
    let status = Rect::new(area.x, area.bottom().saturating_sub(1), area.width, 1);
    let mut body_h = area.height.saturating_sub(1);
    let input = if input && body_h > 2 {
        body_h -= 1;
        Some(Rect::new(area.x, area.y + body_h, area.width, 1))
    } else {
        None
    };
    let body = Rect::new(area.x, area.y, area.width, body_h);
    if !images || area.width < MIN_WIDTH_FOR_IMAGES {
        return Areas {
            transcript: body,
            images: None,
            input,
            status,
        };
    }
    let images_w = (area.width * 2 / 5).clamp(28, 96);
    let transcript_w = area.width - images_w;
    Areas {
        transcript: Rect::new(body.x, body.y, transcript_w, body.height),
        images: Some(Rect::new(
            body.x + transcript_w,
            body.y,
            images_w,
            body.height,
        )),
        input,
        status,
    }
}

/// A `width × height` box centred in `area` (clipped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_80x24_and_200x60() {
        let a = split(Rect::new(0, 0, 80, 24), true, false);
        assert_eq!(a.transcript, Rect::new(0, 0, 48, 23));
        assert_eq!(a.images, Some(Rect::new(48, 0, 32, 23)));
        assert_eq!(a.status, Rect::new(0, 23, 80, 1));
        let a = split(Rect::new(0, 0, 200, 60), true, true);
        assert_eq!(a.images.map(|r| r.width), Some(80));
        assert_eq!(a.input, Some(Rect::new(0, 58, 200, 1)));
        let a = split(Rect::new(0, 0, 50, 20), true, false);
        assert_eq!(a.images, None);
    }
}
