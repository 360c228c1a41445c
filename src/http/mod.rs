//! Byte-level HTTP/1.x helpers shared by capture, replay, the modifier and
//! the prettifier: start lines, headers, path and query, framing.
