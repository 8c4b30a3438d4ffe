//! Agreement with langid.py (the oracle).
