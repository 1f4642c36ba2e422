//! Events: the publisher and the numbering in commit order, the REST history, and the live
//! socket.io stream.

mod history;
mod order;
pub mod stream;
