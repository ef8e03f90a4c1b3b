//! One frame: panes, status bar, then whatever overlay is open.

use super::app::{App, Mode};
use super::detect::Resolved;
use super::images::Placement;
use super::layout::{self, Areas};
use super::{dialog, help, status};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, BorderType, Widget};

/// Draws the whole screen; returns the sixel images placed (empty in other modes).
pub fn draw(frame: &mut Frame, app: &mut App) -> Vec<Placement> {
    let area = frame.area();
    let mut cursor = None;
    let placements = {
        let buf = frame.buffer_mut();
        draw_buffer(app, area, buf, &mut cursor)
    };
    if let Some(pos) = cursor {
        frame.set_cursor_position(pos);
    }
    placements
}

/// Draws into a buffer (what [`draw`] does, minus the cursor); benchmarks call this.
pub fn draw_buffer(
    app: &mut App,
    area: ratatui::layout::Rect,
    buf: &mut Buffer,
    cursor: &mut Option<ratatui::layout::Position>,
) -> Vec<Placement> {
    if layout::too_small(area) {
        buf.set_string(
            area.x,
            area.y,
            super::wrap::truncate("terminal too small", usize::from(area.width)),
            Style::default().fg(Color::Yellow),
        );
        app.areas = None;
        return Vec::new();
    }
    let areas: Areas = layout::split(area, true, matches!(app.mode, Mode::Note(_)));
    app.areas = Some(areas);

    let border = |title: String, active: bool| {
        Block::bordered()
            .border_type(BorderType::Rounded)
            .border_style(Style::default().fg(if active { Color::Blue } else { Color::DarkGray }))
            .title(title)
    };

    let t_title = if app.transcript.following() {
        " transcript ".to_string()
    } else {
        " transcript · scrolled (End: follow) ".to_string()
    };
    let t_block = border(t_title, true);
    let t_inner = t_block.inner(areas.transcript);
    t_block.render(areas.transcript, buf);
    app.transcript.render(&app.view, t_inner, buf);

    let mut placements = Vec::new();
    if let Some(images) = areas.images {
        // The title depends on the grid the render computes: contents first, then the
        // border with its title.
        let g_inner = border(String::new(), false).inner(images);
        placements = app
            .gallery
            .render(&app.view, &mut app.images, app.image_mode, g_inner, buf);
        border(app.gallery.title(&app.view), false).render(images, buf);
    }

    if let (Some(input), Mode::Note(note)) = (areas.input, &app.mode) {
        *cursor = Some(dialog::render_note(note, input, buf));
    }
    status::render(app, areas.status, buf);

    let overlay = match app.mode {
        Mode::Help => {
            help::render(area, app.read_only, buf);
            true
        }
        Mode::Confirm(which) => {
            let id = app.view.info.as_ref().map_or("", |i| i.run_id.as_str());
            dialog::render_confirm(which, id, area, buf);
            true
        }
        _ => false,
    };
    // A sixel under an overlay would show through where the overlay leaves skip cells;
    // while one is open the pictures are left out (the loop repaints when it closes).
    if overlay && matches!(app.image_mode, Resolved::Sixel { .. }) {
        for p in placements.drain(..) {
            for row in p.rect.rows() {
                for pos in row.positions() {
                    if let Some(cell) = buf.cell_mut(pos)
                        && cell.diff_option != ratatui::buffer::CellDiffOption::None
                    {
                        cell.reset();
                    }
                }
            }
        }
    }
    placements
}
