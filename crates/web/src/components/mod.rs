//! Pieces shared by several screens.

pub mod aayu_panel;
pub mod chart;
pub mod draft_offer;
pub mod idle;
pub mod step_up;
