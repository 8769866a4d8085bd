//! Aayu, the in-browser assistant (filled by its own issue).
