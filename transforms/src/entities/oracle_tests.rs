//! Agreement with reference implementations (filled in below).
