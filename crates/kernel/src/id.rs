//! Identifiers are UUIDv7: unique without coordination and ordered by time,
//! which keeps B-tree inserts local and makes "newest first" an index scan.

use uuid::Uuid;

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
