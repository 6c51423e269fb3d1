//! Markdown (CommonMark with GFM task lists and strikethrough) to and from the ProseMirror
//! hub. Parsing is pulldown-cmark's; writing follows prosemirror-markdown's choices (`*` for
//! italic, `**` bold, `~~` strike, `<u>` underline, fenced code blocks, `-` bullets), so that
//! Markdown written here reads back to the same document.
//!
//! Nodes and marks Markdown cannot say (unknown ones) are written as their text.

mod parse;
mod render;

pub use parse::parse;
pub use render::render;
