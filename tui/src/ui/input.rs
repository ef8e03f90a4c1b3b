//! Keys and mouse to [`Action`]s. What a key means depends on the mode: the normal view,
//! the help overlay, a yes/no question, or the note input line.

use super::app::{Confirm, Mode};
use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

/// Something the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Scroll the transcript by lines (negative: up).
    Scroll(isize),
    /// Scroll the transcript by pages.
    Page(isize),
    /// Transcript top.
    Top,
    /// Transcript end, following again.
    Bottom,
    /// Select the next (`true`) or previous tool call.
    SelectTool(bool),
    /// Fold or unfold the selected tool call.
    ToggleFold,
    /// Clear the selection.
    ClearSelection,
    /// A click on a screen cell.
    Click(u16, u16),
    /// Move the gallery by screens of images.
    GalleryPage(isize),
    /// Move the gallery by grid rows (mouse wheel over it).
    GalleryRows(isize),
    /// `p`: pause or resume.
    TogglePause,
    /// `i`: open the note input.
    OpenNote,
    /// `s`: ask to stop and force the answer.
    AskAnswer,
    /// `q`: ask to quit.
    AskQuit,
    /// `?`: open or close help.
    ToggleHelp,
    /// Close the overlay.
    Close,
    /// Answer a yes/no question.
    Answer(bool),
    /// Type into the note.
    NoteInsert(String),
    /// Delete the character before the cursor.
    NoteBackspace,
    /// Clear the note.
    NoteClear,
    /// Send the note.
    NoteSubmit,
    /// Repaint everything (Ctrl-L).
    Redraw,
    /// The terminal changed size.
    Resize,
}

/// The action for a terminal event in `mode`; `images` is the image pane (for the
/// wheel).
pub fn map_event(event: &Event, mode: &Mode, images: Option<Rect>) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => map_key(key, mode),
        Event::Mouse(mouse) => map_mouse(mouse, mode, images),
        Event::Paste(text) if matches!(mode, Mode::Note(_)) => {
            Some(Action::NoteInsert(text.replace(['\r', '\n'], " ")))
        }
        Event::Resize(..) => Some(Action::Resize),
        _ => None,
    }
}

/// The keys a terminal event stands for. A terminal sends Alt+`c` as Escape then `c`, so
/// an Escape typed just before a key (a quick Escape, `q`; keys sent by tmux) reaches us
/// as one Alt+`c` event. maia binds no Alt keys, so such an event is taken as the two keys
/// it was typed as: Escape (closing help or the note line) and then `c`.
pub fn split_escape_prefix(event: Event) -> Vec<Event> {
    match event {
        Event::Key(key)
            if key.modifiers == KeyModifiers::ALT
                && key.kind != KeyEventKind::Release
                && matches!(key.code, KeyCode::Char(_)) =>
        {
            let esc = KeyEvent {
                code: KeyCode::Esc,
                modifiers: KeyModifiers::NONE,
                kind: key.kind,
                state: key.state,
            };
            let plain = KeyEvent {
                modifiers: KeyModifiers::NONE,
                ..key
            };
            vec![Event::Key(esc), Event::Key(plain)]
        }
        other => vec![other],
    }
}

fn ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

/// The action for a key in `mode`.
pub fn map_key(key: &KeyEvent, mode: &Mode) -> Option<Action> {
    match mode {
        Mode::Help => Some(Action::Close),
        Mode::Confirm(which) => match key.code {
            _ if ctrl(key, 'c') => Some(Action::Answer(*which == Confirm::Quit)),
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => Some(Action::Answer(true)),
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => Some(Action::Answer(false)),
            _ => None,
        },
        Mode::Note(_) => match key.code {
            _ if ctrl(key, 'c') => Some(Action::Close),
            _ if ctrl(key, 'u') => Some(Action::NoteClear),
            KeyCode::Esc => Some(Action::Close),
            KeyCode::Enter => Some(Action::NoteSubmit),
            KeyCode::Backspace => Some(Action::NoteBackspace),
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(Action::NoteInsert(c.to_string()))
            }
            _ => None,
        },
        Mode::Normal => match key.code {
            _ if ctrl(key, 'c') => Some(Action::AskQuit),
            _ if ctrl(key, 'l') => Some(Action::Redraw),
            _ if ctrl(key, 'b') => Some(Action::Page(-1)),
            _ if ctrl(key, 'f') => Some(Action::Page(1)),
            KeyCode::Char('q') => Some(Action::AskQuit),
            KeyCode::Char('?') | KeyCode::F(1) => Some(Action::ToggleHelp),
            KeyCode::Char('p') => Some(Action::TogglePause),
            KeyCode::Char('i') => Some(Action::OpenNote),
            KeyCode::Char('s') => Some(Action::AskAnswer),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Scroll(-1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Scroll(1)),
            KeyCode::PageUp => Some(Action::Page(-1)),
            KeyCode::PageDown | KeyCode::Char(' ') => Some(Action::Page(1)),
            KeyCode::Home | KeyCode::Char('g') => Some(Action::Top),
            KeyCode::End | KeyCode::Char('G') => Some(Action::Bottom),
            KeyCode::Tab => Some(Action::SelectTool(true)),
            KeyCode::BackTab => Some(Action::SelectTool(false)),
            KeyCode::Enter => Some(Action::ToggleFold),
            KeyCode::Esc => Some(Action::ClearSelection),
            KeyCode::Char('[') => Some(Action::GalleryPage(-1)),
            KeyCode::Char(']') => Some(Action::GalleryPage(1)),
            _ => None,
        },
    }
}

fn map_mouse(mouse: &MouseEvent, mode: &Mode, images: Option<Rect>) -> Option<Action> {
    if !matches!(mode, Mode::Normal) {
        return None;
    }
    let over_images = images.is_some_and(|r| r.contains(Position::new(mouse.column, mouse.row)));
    match mouse.kind {
        MouseEventKind::ScrollUp if over_images => Some(Action::GalleryRows(-1)),
        MouseEventKind::ScrollDown if over_images => Some(Action::GalleryRows(1)),
        MouseEventKind::ScrollUp => Some(Action::Scroll(-3)),
        MouseEventKind::ScrollDown => Some(Action::Scroll(3)),
        MouseEventKind::Down(MouseButton::Left) => Some(Action::Click(mouse.column, mouse.row)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventState, MouseEvent};

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        })
    }

    #[test]
    fn an_alt_key_is_escape_then_the_key() {
        let alt_q = Event::Key(KeyEvent {
            code: KeyCode::Char('q'),
            modifiers: KeyModifiers::ALT,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        });
        let keys = split_escape_prefix(alt_q);
        assert_eq!(keys, vec![key(KeyCode::Esc), key(KeyCode::Char('q'))]);
        // Help open: the Escape closes it and the q then asks to quit.
        let mut mode = Mode::Help;
        let actions: Vec<_> = keys
            .iter()
            .filter_map(|k| {
                let action = map_event(k, &mode, None);
                mode = Mode::Normal;
                action
            })
            .collect();
        assert_eq!(actions, vec![Action::Close, Action::AskQuit]);
        let ctrl_alt = Event::Key(KeyEvent {
            code: KeyCode::Char('q'),
            modifiers: KeyModifiers::ALT | KeyModifiers::CONTROL,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        });
        assert_eq!(split_escape_prefix(ctrl_alt.clone()), vec![ctrl_alt]);
    }

    #[test]
    fn keys_mean_different_things_per_mode() {
        let normal = Mode::Normal;
        assert_eq!(
            map_event(&key(KeyCode::Char('q')), &normal, None),
            Some(Action::AskQuit)
        );
        assert_eq!(
            map_event(&key(KeyCode::Char('p')), &normal, None),
            Some(Action::TogglePause)
        );
        let note = Mode::Note(String::new());
        assert_eq!(
            map_event(&key(KeyCode::Char('q')), &note, None),
            Some(Action::NoteInsert("q".into()))
        );
        let confirm = Mode::Confirm(Confirm::Quit);
        assert_eq!(
            map_event(&key(KeyCode::Char('y')), &confirm, None),
            Some(Action::Answer(true))
        );
        assert_eq!(
            map_event(&key(KeyCode::Esc), &confirm, None),
            Some(Action::Answer(false))
        );
        assert_eq!(
            map_event(&key(KeyCode::Char('x')), &Mode::Help, None),
            Some(Action::Close)
        );
    }

    #[test]
    fn the_wheel_scrolls_the_pane_under_the_pointer() {
        let images = Some(Rect::new(40, 0, 40, 20));
        let wheel = |column, kind| {
            Event::Mouse(MouseEvent {
                kind,
                column,
                row: 5,
                modifiers: KeyModifiers::NONE,
            })
        };
        assert_eq!(
            map_event(&wheel(10, MouseEventKind::ScrollUp), &Mode::Normal, images),
            Some(Action::Scroll(-3))
        );
        assert_eq!(
            map_event(
                &wheel(50, MouseEventKind::ScrollDown),
                &Mode::Normal,
                images
            ),
            Some(Action::GalleryRows(1))
        );
    }
}
